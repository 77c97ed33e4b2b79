"""The pure core of running a loop: what the harness decides, as functions of data.

The harness (``harness/``) does the I/O: model and tool calls through the
gateway, the journal. Everything it decides lives here and is tested without
I/O: the loop's definition as the harness sees it (:mod:`.definition`), the
outcomes and how gateway refusals map onto them (:mod:`.outcomes`), the
bounds and stall detection (:mod:`.progress`), the checker's verdict
(:mod:`.verdict`) and the messages the harness writes into a conversation
(:mod:`.prompts`). Deterministic: the same journal gives the same decisions,
which is what lets a resumed run replay its journal and go on.
"""
