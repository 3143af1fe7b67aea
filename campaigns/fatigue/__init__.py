"""Fatigue engine (SPEC "Fatigue rules").

- `rules`: the pure decision (no ORM, no Redis), shared by publish, preview and the simulator;
- `counters`: the Redis windows, checked and consumed atomically in one Lua script, and their
  rebuild from the durable ledger.
"""
