"""Co-speech gestures: data, models, training, sampling, metrics."""
