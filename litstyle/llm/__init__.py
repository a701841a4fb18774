"""LLM access over the OpenAI HTTP API: one robust client (client.py) and the content judge (judge.py)."""
