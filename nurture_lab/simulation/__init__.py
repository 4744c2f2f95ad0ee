"""The simulation: population -> policy gate and behaviour per touch (engine) -> touch log and outcomes.

Import the functions from ``nurture_lab`` (``nl.make_leads``, ``nl.simulate``).
"""
