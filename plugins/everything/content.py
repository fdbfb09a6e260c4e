"""Resources, prompts and completions of the `everything` plugin."""

from __future__ import annotations

import base64
import json

from mcp.server.mcpserver import UserMessage
from mcp_types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    EmbeddedResource,
    ImageContent,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
    TextResourceContents,
)

from toolpark.plugins.everything.plugin import plugin
from toolpark.plugins.everything.samples import PNG_BASE64


@plugin.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource for testing"""
    return "This is the content of the static text resource."


@plugin.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (image) for testing"""
    return base64.b64decode(PNG_BASE64)


@plugin.resource("test://template/{id}/data", mime_type="application/json")
def template_data(id: str) -> str:
    """A resource template with parameter substitution"""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@plugin.resource("test://watched-resource", mime_type="text/plain")
def watched() -> str:
    """A resource that can be subscribed to for updates"""
    return "Watched resource content"


def _user(content: TextContent | ImageContent | EmbeddedResource) -> UserMessage:
    return UserMessage(role="user", content=content)


@plugin.prompt()
def test_simple_prompt() -> list[UserMessage]:
    """A simple prompt without arguments"""
    return [_user(TextContent(type="text", text="This is a simple prompt for testing."))]


@plugin.prompt()
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
    """A prompt with required arguments"""
    return [_user(TextContent(type="text", text=f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]


@plugin.prompt()
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:
    """A prompt that includes an embedded resource"""
    resource = TextResourceContents(
        uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
    )
    return [
        _user(EmbeddedResource(type="resource", resource=resource)),
        _user(TextContent(type="text", text="Please process the embedded resource above.")),
    ]


@plugin.prompt()
def test_prompt_with_image() -> list[UserMessage]:
    """A prompt that includes image content"""
    return [
        _user(ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")),
        _user(TextContent(type="text", text="Please analyze the image above.")),
    ]


COLOURS = ("paris", "park", "party", "red", "green", "blue")


@plugin.completion
async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: CompletionContext | None
) -> Completion:
    """Offer the known words that start with what was typed so far."""
    values = [word for word in COLOURS if word.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)
