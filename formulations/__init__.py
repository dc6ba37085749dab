"""Solver-agnostic models: the core assignment problem and its builders."""

from tierflow.formulations.problem import AssignmentProblem

__all__ = ["AssignmentProblem"]
