"""Stage `regularization`: the study (`study`) and its figures (`figures`)."""
