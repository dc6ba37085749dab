"""Domain data: schemas, readers with validation, generators and the state store."""

from tierflow.data.errors import (
    InputError,
    SolverError,
    TierflowError,
    VerificationError,
)

__all__ = ["InputError", "SolverError", "TierflowError", "VerificationError"]
