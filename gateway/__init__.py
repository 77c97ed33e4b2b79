"""The fleet gateway: the data plane every model and tool call of every loop passes."""
