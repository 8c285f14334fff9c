"""Where the offline router's model leaves what it decided on the messages it writes (plain
names, so the runner reads them without loading LangChain's model classes)."""

INTENT_KEY = "paybot_intent"
LANGUAGE_KEY = "paybot_language"  # the code of a "switch to French" message, if it named one
ARGS_KEY = "paybot_args"  # the arguments of an intent no tool answers ("plan_details": a plan)
# an `Intent` already known for this message (the answer to a question the router asked,
# see `bot.agent.followup`): the message is not routed again
FORCED_KEY = "paybot_forced_intent"
