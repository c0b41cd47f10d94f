"""Function calling through docent's OpenAI-compatible API with the official `openai` client: a
call the client insists on (tool_choice "required", then a named function, streamed), and the
answer once the tool's result is sent back. Prints what it got as JSON, for tests/http.rs to
check. usage: openai_tools.py BASE_URL"""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="not-needed")
weather = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather now in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
question = [{"role": "user", "content": "What is the weather in Paris today?"}]
out = {}

completion = client.chat.completions.create(
    model="docent", messages=question, tools=[weather], tool_choice="required", max_tokens=64
)
choice = completion.choices[0]
calls = choice.message.tool_calls or []
out["finish_reason"] = choice.finish_reason
out["calls"] = [{"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in calls]

streamed, finish = {}, None
for chunk in client.chat.completions.create(
    model="docent",
    messages=question,
    tools=[weather],
    tool_choice={"type": "function", "function": {"name": "get_weather"}},
    max_tokens=64,
    stream=True,
):
    delta = chunk.choices[0].delta
    for call in delta.tool_calls or []:
        entry = streamed.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
        entry["id"] = call.id or entry["id"]
        entry["name"] += call.function.name or ""
        entry["arguments"] += call.function.arguments or ""
    finish = chunk.choices[0].finish_reason or finish
out["stream_finish"] = finish
out["stream_calls"] = [
    {"id": c["id"], "name": c["name"], "arguments": json.loads(c["arguments"])} for c in streamed.values()
]

call = calls[0]
answered = client.chat.completions.create(
    model="docent",
    messages=question
    + [
        choice.message.model_dump(exclude_none=True, exclude={"citations"}),
        {"role": "tool", "tool_call_id": call.id, "content": "Paris: sunny, 21 °C, light wind from the west."},
    ],
    tools=[weather],
    max_tokens=64,
)
message = answered.choices[0].message
out["answer"] = message.content
out["answer_calls"] = len(message.tool_calls or [])
out["citations"] = (message.model_extra or {}).get("citations")
print(json.dumps(out))
