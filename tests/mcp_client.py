"""The official Python MCP SDK against docent (run by tests/mcp.rs).

Usage: mcp_client.py stdio DOCENT STORE   (`docent mcp` as a child process)
       mcp_client.py http URL [KEY]       (`/mcp` on `docent serve`, with a bearer key)
Lists the tools, calls each one, and sends each bad input; prints one JSON object of what it saw
for the Rust test to check. Exits non-zero on a protocol failure (an HTTP 401 included).
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


def connect(args):
    if args[0] == "stdio":
        docent, store = args[1:]
        server = StdioServerParameters(
            command=docent,
            args=["--store", store, "mcp", "--answer-mode", "extract"],
        )
        return stdio_client(server)
    url = args[1]
    headers = {"Authorization": f"Bearer {args[2]}"} if len(args) > 2 else None
    return streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))


async def main(args):
    seen = {}
    async with connect(args) as (read, write, *_):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            seen["server"] = info.server_info.name
            tools = await session.list_tools()
            seen["tools"] = {
                tool.name: {
                    "description": tool.description,
                    "properties": sorted(tool.input_schema.get("properties", {})),
                    "required": sorted(tool.input_schema.get("required", [])),
                }
                for tool in tools.tools
            }

            async def call(name, arguments):
                result = await session.call_tool(name, arguments)
                return {
                    "error": bool(result.is_error),
                    "structured": result.structured_content,
                    "text": text_of(result),
                }

            seen["search"] = await call(
                "search", {"query": "How does LoRA reduce the memory needed?", "k": 3}
            )
            seen["search_zh"] = await call(
                "search", {"query": "检索增强生成如何建立索引？", "k": 3, "paths": ["zh/**"]}
            )
            seen["ask"] = await call(
                "ask", {"question": "What is retrieval-augmented generation?"}
            )
            seen["list_documents"] = await call("list_documents", {})
            first = await call("list_documents", {"limit": 4})
            seen["list_pages"] = [first]
            following = (first["structured"] or {}).get("next")
            if following:
                seen["list_pages"].append(
                    await call("list_documents", {"limit": 100, "from": following})
                )
            seen["read_document"] = await call(
                "read_document",
                {"document": "en/prompting.md", "start_line": 1, "max_lines": 5},
            )
            seen["bad"] = {
                "missing_query": await call("search", {"k": 3}),
                "huge_k": await call("search", {"query": "tea", "k": 100000}),
                "bad_glob": await call("search", {"query": "tea", "paths": ["[oops"]}),
                "bad_mode": await call("search", {"query": "tea", "mode": "fuzzy"}),
                "bad_type": await call("ask", {"question": "tea", "types": ["mp3"]}),
                "fusion_without_model": await call("search", {"query": "tea", "mode": "fusion"}),
                "unknown_document": await call("read_document", {"document": "no/such.md"}),
                "too_many_lines": await call(
                    "read_document", {"document": "en/prompting.md", "max_lines": 5000}
                ),
                "oversized_query": await call("search", {"query": "x" * 100_000}),
                "empty_question": await call("ask", {"question": "  "}),
                "huge_limit": await call("list_documents", {"limit": 5000}),
                "misspelt_filter": await call("search", {"query": "tea", "path": ["en/*"]}),
                "unknown_argument": await call(
                    "read_document", {"document": "en/prompting.md", "lines": 5}
                ),
            }
            seen["documents_after"] = await call("list_documents", {})
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
