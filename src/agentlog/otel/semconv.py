"""The OpenTelemetry GenAI semantic conventions agentlog follows, pinned to one version.

GenAI conventions are still "development" status and rename attributes between
versions, so the names are spelled out here once, for the version below, instead of
imported from whatever `opentelemetry-semantic-conventions` is installed.
"""

SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

OPERATION = "gen_ai.operation.name"  # invoke_agent | execute_tool | chat
INVOKE_AGENT, EXECUTE_TOOL, CHAT = "invoke_agent", "execute_tool", "chat"
PROVIDER = "gen_ai.provider.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
CONVERSATION_ID = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
# input_tokens counts every input token, cached ones included (the conventions' rule);
# agentlog's own counts are disjoint, so they are summed on the way out and split on the way in.
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
ERROR_TYPE = "error.type"

# agentlog's own attributes: what the conventions have no name for
EVENT = "agentlog.event"  # the original event (JSON): an agentlog -> agentlog trip loses nothing
COST_USD = "agentlog.cost_usd"
EXECUTOR = "agentlog.executor"
PROVIDERS = {"CLAUDE_CODE": "anthropic", "CODEX": "openai"}
