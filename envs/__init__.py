"""Gymnasium side of snn-rl: research tasks, wrappers, reward signals, torch-native vector envs."""
