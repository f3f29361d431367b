"""Spiking agents with a Stable-Baselines3-like API."""
