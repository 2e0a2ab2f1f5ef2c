"""The training engine: models, on-device augmentation, schedules, losses, the loop."""
