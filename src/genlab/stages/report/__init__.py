"""Stage `report`: the page (`page`) and what it says of each stage (`sections`)."""
