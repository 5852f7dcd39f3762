"""Training: trainer, losses and the generic training infrastructure (checkpoints, progress,
metrics log, DDP helpers, RNG state)."""
