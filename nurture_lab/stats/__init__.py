"""Statistics: estimators, the analysis of an experiment, guardrails, time to book, power and
simulation-based power and calibration. Import the functions from ``nurture_lab`` (``nl.analyze``)."""
