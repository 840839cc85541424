"""The data room, at the bottom of ``cospeech``: what a co-speech model reads, and nothing about models.

- :mod:`~gesturekit.cospeech.data.types`: the data types (pose formats, feature clips, the kinds of
  text features) and the feature-clip folder;
- :mod:`~gesturekit.cospeech.data.store_inputs`: a packed store seen as model inputs, batch by batch;
- :mod:`~gesturekit.cospeech.data.speech_inputs`: model inputs from a waveform and a word list;
- :mod:`~gesturekit.cospeech.data.synthetic`: the built-in synthetic corpus.

Imports no other ``cospeech`` room: every other room imports it.
"""
