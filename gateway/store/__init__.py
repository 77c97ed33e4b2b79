"""State stores of the gateway: SQLite (embedded) and Redis (shared by replicas)."""

from gateway.store.base import (
    BudgetKey,
    Denied,
    Reservation,
    RunState,
    Settlement,
    Store,
    open_store,
)

__all__ = ["BudgetKey", "Denied", "Reservation", "RunState", "Settlement", "Store", "open_store"]
