"""Stage `double_descent`: the study (`study`) and its figures (`figures`)."""
