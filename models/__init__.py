"""semradio.models: neural networks, noise schedules, samplers and shipped checkpoints."""
