"""Stage `lr_range`: the range test per batch size (`study`) and the largest batch that fits
the accelerator (`batch_size_finder`)."""
