"""Other APIs *in*: requests in Anthropic's Messages format and OpenAI's
Responses format, translated to and from the core's chat call.

Pure translation, like ``providers/`` is translation *out*: no I/O here.
The gateway's routes and the SDK's ``polyrelay.anthropic`` /
``polyrelay.responses`` both use these modules, so a Messages or Responses
call gets everything a chat call gets (keys, budgets, routing, fallbacks,
spend).
"""
