"""What-if designs answered in simulation against the ground truth (issue 25).

A stage after ``stats`` and ``reporting``: it runs the simulation many times over a grid of
designs (staffing levels, assignment designs, ...) and draws its own charts. Import the functions
from ``nurture_lab`` (``nl.staffing_curve``, ``nl.compare_designs``).
"""
