"""Files in and out: one CSV/Parquet reader, the CRM import, the messy example export, atomic writes."""
