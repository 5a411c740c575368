"""Online serving: the published snapshot the live service reads, and the service's state (pure Python)."""
