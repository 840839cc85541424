"""Features computed from records: kinematics (normalise, resample), audio, text. NumPy in, arrays out."""
