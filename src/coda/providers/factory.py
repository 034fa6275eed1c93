"""Choosing the model and building the client that serves it, from flags, env and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coda.providers.base import ConfigurationError, Provider
from coda.providers.catalog import ModelChoice, resolve_model
from coda.providers.retry import RetryPolicy

NO_PROVIDER_HELP = """\
no model provider is configured. Set one of:
  ANTHROPIC_API_KEY=sk-ant-...    Anthropic (or ANTHROPIC_AUTH_TOKEN for a bearer token,
                                  ANTHROPIC_BASE_URL for a proxy)
  OPENAI_API_KEY=sk-...           OpenAI, or any OpenAI-compatible service
Or point coda at a local OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio):
  OPENAI_BASE_URL=http://127.0.0.1:11434/v1 coda --model openai/qwen2.5-coder -p "..."
`coda doctor` shows what coda can see."""


@dataclass(frozen=True, slots=True)
class ProviderSetup:
    choice: ModelChoice
    provider: Provider


def _has_anthropic(env: Mapping[str, str]) -> bool:
    return bool(env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN"))


def _has_openai(env: Mapping[str, str]) -> bool:
    return bool(env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"))


def default_model_spec(env: Mapping[str, str]) -> str:
    if _has_anthropic(env):
        return "sonnet"
    if env.get("OPENAI_API_KEY") and not env.get("OPENAI_BASE_URL"):
        return "openai/gpt-5"
    if _has_openai(env):
        raise ConfigurationError(
            "OPENAI_BASE_URL is set but no model is named. Name the model the server runs, "
            "for example: coda --model openai/qwen2.5-coder (or set CODA_MODEL)."
        )
    raise ConfigurationError(NO_PROVIDER_HELP)


def retry_policy(env: Mapping[str, str]) -> RetryPolicy:
    return RetryPolicy(
        max_retries=int(env.get("CODA_MAX_RETRIES", "4")),
        base_delay=float(env.get("CODA_RETRY_BASE_DELAY", "1.0")),
    )


def build_provider(spec: str | None, env: Mapping[str, str]) -> ProviderSetup:
    """Resolve the model spec (flag, CODA_MODEL or settings) and build its client."""
    try:
        choice = resolve_model(spec or default_model_spec(env))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    retry = retry_policy(env)
    if choice.provider == "anthropic":
        if not _has_anthropic(env):
            raise ConfigurationError(
                f"model {choice.model_id} is served by Anthropic, but neither ANTHROPIC_API_KEY "
                f"nor ANTHROPIC_AUTH_TOKEN is set.\n{NO_PROVIDER_HELP}"
            )
        from coda.providers.anthropic import AnthropicProvider

        return ProviderSetup(choice, AnthropicProvider.from_env(env, retry=retry))
    if not _has_openai(env):
        raise ConfigurationError(
            f"model {choice.model_id} needs an OpenAI-compatible endpoint: set OPENAI_API_KEY "
            f"or OPENAI_BASE_URL.\n{NO_PROVIDER_HELP}"
        )
    from coda.providers.openai_compat import OpenAICompatProvider

    reasoning = bool(choice.info and choice.info.reasoning_model)
    provider = OpenAICompatProvider.from_env(env, reasoning_model=reasoning, retry=retry)
    return ProviderSetup(choice, provider)
