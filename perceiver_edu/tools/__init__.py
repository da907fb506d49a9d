"""Tools that are not part of the model: time and memory measurement, the benchmark."""
