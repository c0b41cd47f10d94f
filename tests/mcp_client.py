"""The official Python MCP SDK against `docent mcp` on stdio (run by tests/mcp.rs).

Usage: mcp_client.py DOCENT STORE
Lists the tools, calls each one, and sends each bad input; prints one JSON object of what it saw
for the Rust test to check. Exits non-zero on a protocol failure.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(docent, store):
    server = StdioServerParameters(
        command=docent,
        args=["--store", store, "mcp", "--answer-mode", "extract"],
    )
    seen = {}
    async with stdio_client(server) as (read, write):
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
            seen["read_document"] = await call(
                "read_document",
                {"document": "en/prompting.md", "start_line": 1, "max_lines": 5},
            )
            seen["bad"] = {
                "missing_query": await call("search", {"k": 3}),
                "huge_k": await call("search", {"query": "tea", "k": 100000}),
                "bad_glob": await call("search", {"query": "tea", "paths": ["[oops"]}),
                "bad_mode": await call("search", {"query": "tea", "mode": "fuzzy"}),
                "bad_type": await call("ask", {"question": "tea", "types": ["docx"]}),
                "fusion_without_model": await call("search", {"query": "tea", "mode": "fusion"}),
                "unknown_document": await call("read_document", {"document": "no/such.md"}),
                "too_many_lines": await call(
                    "read_document", {"document": "en/prompting.md", "max_lines": 5000}
                ),
                "oversized_query": await call("search", {"query": "x" * 100_000}),
                "empty_question": await call("ask", {"question": "  "}),
            }
            seen["documents_after"] = await call("list_documents", {})
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
