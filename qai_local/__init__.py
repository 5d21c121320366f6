"""What runs only on one machine, never in a Lambda function: the local sandbox with its isolation,
previews and dev servers (``qai_local.sandbox``), and the stack that runs the whole system around
the same handlers (``qai_local.stack``). The agent reaches the sandbox through ``qai_agent.sandboxes``.
"""
