"""The style judge: authorship pairs, training, benchmark."""
