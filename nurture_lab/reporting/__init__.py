"""Leadership reports and notebook helpers: content (verdicts, tables), notebook helpers, rendering,
HTML pages, plots and labels. Import ``render_reports`` from ``nurture_lab``."""
