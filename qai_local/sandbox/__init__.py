"""The local sandbox: the template's Next.js app in a directory per sandbox, on this machine.

One concern per module: ``template_cache`` (prepare once, share node_modules), ``isolation`` (the
bubblewrap command line and its fallback), ``machine`` (this machine's facts, probed once per
provider), ``processes`` (process groups, ports), ``devservers`` (start on demand, idle stop, LRU
cap), ``previews`` (a stable port per sandbox) and ``sandbox`` (the provider's interface).
"""
