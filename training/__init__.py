"""Model lifecycle: train and register, gated promotion, rollback, status and the audit trail (`python -m training`)."""
