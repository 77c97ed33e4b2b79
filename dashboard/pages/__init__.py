"""One module per page: each turns what the store and the fleet hold into the template's
context, and refuses a bad query parameter with a reason."""
