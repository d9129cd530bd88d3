"""Benchmarks of the course's reference models (GAN, VAE, LSTM, GPT) on the current device.

``python -m benchmarks`` (or ``make bench``) times a training step and a generation call of each model in
fp32, under autocast and with ``torch.compile``, prints a table and writes JSON to ``benchmarks/results/``.
See ``benchmarks/README.md`` for the figures measured on the course's CI-like machine.
"""
