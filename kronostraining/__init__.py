"""``python -m kronostraining``: train or fine-tune the Kronos tokenizer and predictor on pre-validation bars."""
