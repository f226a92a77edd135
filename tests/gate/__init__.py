"""The admission gate (SeatGate, its scripts, its connections) against a real Redis."""
