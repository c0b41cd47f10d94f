"""Drives docent's OpenAI-compatible API with the official `openai` client and prints what it got
as JSON, for tests/http.rs to check. usage: openai_client.py BASE_URL"""
import json
import sys

from openai import BadRequestError, OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="not-needed")
messages = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is retrieval-augmented generation?"},
]
out = {"models": [model.id for model in client.models.list()]}

completion = client.chat.completions.create(model="docent", messages=messages, max_tokens=32)
choice = completion.choices[0]
out["content"] = choice.message.content
out["citations"] = (choice.message.model_extra or {}).get("citations")
out["finish_reason"] = choice.finish_reason
out["usage"] = completion.usage.model_dump()

pieces, roles, last = [], [], None
for chunk in client.chat.completions.create(model="docent", messages=messages, max_tokens=24, stream=True):
    delta = chunk.choices[0].delta
    if delta.role:
        roles.append(delta.role)
    if delta.content:
        pieces.append(delta.content)
    if chunk.choices[0].finish_reason:
        last = chunk
out["stream_text"] = "".join(pieces)
out["stream_roles"] = roles
out["stream_finish"] = last.choices[0].finish_reason
out["stream_citations"] = (last.model_extra or {}).get("citations")

search_tool = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}
try:
    client.chat.completions.create(model="docent", messages=messages, tools=[search_tool])
    out["tools_error"] = None
except BadRequestError as error:
    out["tools_error"] = str(error)

print(json.dumps(out))
