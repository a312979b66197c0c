"""Attack structures for the prompt-injection detector (issue 14.1).

Sits beside `injection`'s phrase rules in the input guardrail stage. Where a
phrase rule names the words an attack was seen with, a structure rule names
the parts every such attack needs and lets free words stand between them:

- override: a verb of dropping (ignore, disregard, forget, override, skip,
  set aside, never mind, stop following, ...) and, a few words later,
  something that came before (the above, earlier directions, what you were
  told, your original task);
- disclosure: a verb of revealing, repeating, relaying, listing or printing
  and, a few words later, the model's own setup (your initial prompt, the
  parameters you were given, the text that came before my message);
- persona or mode switch: "you are now", "pretend to be", "act as", "enter"
  + a role without rules or with a single purpose, "safe mode off";
- output hijack: "only output 'X'", "replace every answer with", "whatever
  the user asks, say", "respond to all further messages with";
- banners: fake section markers announcing new instructions, an override or
  a reprogramming, and third-person orders to "the AI";
- shouted stop-and-print commands (upper case, read from the raw text);
- pretexts: a dead or dying relative who used to read out keys or passwords.

`position` adds evidence when an override sits at the end of a longer text
that reads as benign before it (the indirect-injection shape). Rules have
the same shape as `injection`'s and go through its anchor index, so a clean
prompt only pays for the rules whose anchor words it holds. Every free-word
gap is bounded and made of disjoint character classes, which keeps each
match linear.
"""

from __future__ import annotations

import re


# a bounded run of free words between two parts of a structure
def _gap(n: int) -> str:
    return rf"(?:[\w'’]++\W++){{0,{n}}}?"


_W = r"\W++"
_DROP = (
    r"(?:ignore|ignoring|disregard|disregarding|forget|override|overrule|bypass|skip|neglect|overlook|discard|abandon|"
    r"drop|cancel|scrap|dismiss|erase|delete|clear|set\W++aside|throw\W++(?:out|away)|never\W*+mind|nevermind|"
    r"pay\W++no\W++(?:attention|heed)\W++to|stop\W++(?:following|obeying|listening\W++to|adhering\W++to)|"
    r"(?:do\W++not|don't|no\W++longer)\W++(?:follow|obey|adhere\W++to|listen\W++to))"
)
_BEFORE = r"(?:previous|prior|above|earlier|preceding|former|initial|original|old|first|existing|default|setup|set-up|given|starting|pre-?set|pre-?defined|built-?in)"
_SETUP = (
    r"(?:instructions?|prompts?|directions?|directives?|rules?|guidance|guidelines?|tasks?|text|messages?|context|"
    r"conversation|setup|set-up|programming|configuration|orders?|commands?|constraints?|restrictions?|polic(?:y|ies)|training|steps?)"
)
_TOLD = r"(?:told|given|instructed|asked|programmed|configured|set\W++up|trained|said|briefed|prompted|initiali[sz]ed|provided)"
_ROLEFREE = (
    r"(?:no|zero|without|free\W++(?:of|from)|freed\W++from|not\W++bound\W++by|unbound\W++by|beyond|outside)\W++"
    + _gap(2)
    + r"(?:rules?|restrictions?|limits?|limitations?|filters?|guidelines?|polic(?:y|ies)|censorship|morals?|ethics|boundaries|constraints?|safeguards?|guardrails?)"
)
_PERSONA = (
    r"(?:you\W++are\W++now|you're\W++now|from\W++(?:now|this\W++(?:moment|point))\W++on\W++you\W++are|"
    r"pretend\W++(?:to\W++be|you\W++are)|act\W++as|behave\W++as|roleplay\W++as|role-play\W++as|become|"
    r"you\W++will\W++(?:now\W++)?be|imagine\W++you\W++are|simulate|transform\W++into)"
)
_REPLY = r"(?:output|say|print|write|reply|respond|answer|return|type|repeat)"
_ANSWERS = r"(?:answers?|responses?|repl(?:y|ies)|outputs?|messages?|completions?)"
_QUOTE = r"[\"'“‘«]"
# what stands before a quoted payload: a possessive \W++ would take the quote
_QUOTED = r"[^\w\"'“‘«]*+[\"'“‘«]"
_RELATIVE = r"(?:grand(?:ma|mother|pa|father|mama|papa)|granny|nana|nan|mom|mum|mother|dad|father|aunt|uncle)"
_CREDENTIAL = r"(?:keys?|passwords?|credentials|logins?|pins?|serials?|tokens?|passcodes?|codes)"

_REVEAL_WORDS = (
    "reveal show print display output repeat tell give share leak dump disclose write recite paste copy spell echo return"
    " relay list respond reply enumerate state quote reproduce provide translate send forward type"
)
_REVEAL = (
    r"(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|disclose|write|recite|paste|copy|spell|echo|return|"
    r"relay|list|respond\W++with|reply\W++with|enumerate|state|quote|reproduce|provide|translate|send|forward|type)\b"
)
_SETUP_NOUNS = "prompt instructions message rules guidelines directives parameters configuration settings text briefing programming constraints"

# (family, weight, anchors as in injection._RAW_RULES, pattern over folded text);
# a rule led by an alternation is tried at every position of the text, having
# no literal to skip ahead to, so the broad ones need a second anchor group
RULES: tuple[tuple[str, float, str, str], ...] = (
    # --- override: drop what came before, free words in between -----------
    ("instruction_override", 0.85,
     "ignore ignoring disregard disregarding forget override overrule bypass skip neglect overlook discard abandon drop cancel scrap dismiss erase delete clear aside throw mind nevermind pay stop follow obey adhere listen"
     " & instruction instructions prompt prompts direction directions directive directives rule rules guidance guideline guidelines task tasks text message messages context conversation setup programming configuration order orders command commands constraint constraints restriction restrictions policy policies training step steps",
     rf"{_DROP}{_W}{_gap(5)}(?:{_BEFORE}{_W}{_gap(3)}{_SETUP}\b"
     rf"|(?:your|the)\W++{_gap(1)}{_SETUP}\W++(?:from|of|by|given\W++by)\W++(?:your|the)\W++(?:developers?|creators?|makers?|operators?|owners?|company|admins?|administrators?)\b|(?:all|any|every|your|the|these|those)\W++{_gap(1)}{_SETUP}\W++(?:you\W++(?:were|have\W++been|'ve\W++been)\W++){_TOLD}\b)"),
    ("instruction_override", 0.75,
     "ignore ignoring disregard disregarding forget override skip discard drop scrap dismiss aside mind nevermind"
     " & above before earlier previously told said gave given asked instructed programmed original initial first previous current real assigned actual prior",
     rf"{_DROP}{_W}{_gap(3)}(?:(?:the|all|everything|anything|all\W++of|what(?:ever)?)\W++{_gap(5)}(?:above|before\W++(?:this|that|now|it|here|my)|earlier|previously)\b"
     rf"|(?:what(?:ever)?|everything|anything|all)\W++{_gap(3)}(?:you\W++(?:were|have\W++been|'ve\W++been|got)|(?:i|we|they|someone)\W++(?:\w++\W++)?(?:told|said|gave|asked))\W++(?:{_TOLD}\b)?"
     rf"|your\W++(?:original|initial|first|previous|current|real|assigned|actual|prior)\W++(?:task|job|goal|purpose|mission|role|assignment))"),
    ("instruction_override", 0.85, "instead",
     rf"(?:ignore|disregard|forget|never\W*+mind|skip|drop)\W++{_gap(4)}(?:and\W++)?instead\b"),
    ("instruction_override", 0.6,
     "task job goal mission purpose assignment & new real only actual next updated true",
     r"\b(?:your|the)\W++(?:new|real|only|actual|next|updated|true)\W++(?:task|job|goal|mission|purpose|assignment)\W++(?:is|now|will\W++be|:)"),
    ("instruction_override", 0.5, "new",
     r"\bnew\W++(?:task|job|goal|mission|assignment)\W*+[:\-]"),
    # --- disclosure: reveal/relay/list + the model's own setup --------------
    ("prompt_extraction", 0.85, f"{_REVEAL_WORDS} & {_SETUP_NOUNS}",
     rf"{_REVEAL}{_W}{_gap(6)}(?:(?:your|the|its)\W++(?:\w++\W++)?(?:system|initial|original|hidden|secret|internal|developer|setup|set-up|pre-?prompt|first|starting|opening|confidential|underlying|private|full)\W++(?:\w++\W++)?(?:prompt|instructions|message|rules|guidelines|directives|parameters|configuration|settings|text|briefing)\b"
     rf"|your\W++(?:instructions|rules|guidelines|directives|parameters|configuration|prompt|programming|briefing|constraints)\b"
     rf"|(?:instructions|rules|parameters|guidelines|directives|configuration|settings|prompt|constraints)\W++(?:that\W++)?you\W++(?:were|have\W++been|'ve\W++been|got|received)\W*+{_TOLD}?)"),
    ("prompt_extraction", 0.85, f"{_REVEAL_WORDS} & text words sentence sentences line lines content everything message messages conversation & above before prior preceding",
     rf"{_REVEAL}{_W}{_gap(6)}(?:text|words|sentences?|lines?|content|everything|message|messages|conversation)\W++(?:that\W++|which\W++)?(?:(?:came|comes|was|were|is|appears?|appearing|written|given|sent)\W++)?(?:above|before\W++(?:this|my|the\W++user)|prior\W++to|preceding)\b"),
    ("prompt_extraction", 0.85, f"{_REVEAL_WORDS} & told instructed programmed configured",
     rf"{_REVEAL}{_W}{_gap(6)}(?:what|everything|all|anything)\W++(?:that\W++)?you\W++(?:were|have\W++been|'ve\W++been)\W++(?:told|instructed|programmed|asked|configured|given)\b"),
    ("prompt_extraction", 0.6, "first opening initial earliest",
     r"\b(?:first|opening|initial|earliest)\W++(?:message|lines?|sentences?|words|paragraph|instructions?|prompt)\W++(?:of|in)\W++(?:this|the|our)\W++(?:chat|conversation|session|thread|context)\b"),
    ("prompt_extraction", 0.5,
     "instructions rules parameters guidelines directives configuration settings prompt constraints",
     r"(?:instructions|rules|parameters|guidelines|directives|configuration|prompt|constraints)\W++(?:that\W++)?you\W++(?:were|have\W++been|'ve\W++been)\W++(?:given|told|set\W++up\W++with|configured\W++with|programmed\W++with|initiali[sz]ed\W++with|provided)\b"),
    # --- persona and mode switches -----------------------------------------
    ("persona_jailbreak", 0.85,
     "now pretend act behave roleplay role become will imagine simulate transform"
     # not "policy" or "limits": a support prompt's "return policy" would run it on every such prompt
     " & rule rules restriction restrictions limitation limitations filter filters guideline guidelines"
     " censorship moral morals ethics boundaries constraint constraints safeguard safeguards guardrail guardrails",
     rf"{_PERSONA}{_W}{_gap(8)}{_ROLEFREE}\b"),
    ("persona_jailbreak", 0.45, "now moment point & bot machine program parrot echo robot ai model chatbot terminal",
     rf"(?:you\W++are\W++now|you're\W++now|from\W++(?:now|this\W++(?:moment|point))\W++on\W++you\W++are)\W++(?:an?\W++)?{_gap(3)}(?:bot|machine|program|parrot|echo|robot|ai|model|chatbot|terminal)\b"),
    ("persona_jailbreak", 0.4, "purpose function job goal else",
     r"\b(?:(?:only|sole|single|one)\W++(?:purpose|function|job|goal)|nothing\W++else)\b"),
    ("persona_jailbreak", 0.85, "mode filter filters safety guardrails censorship",
     r"\b(?:safe|safety|content|filter|moderation|restricted|censorship|censored|ethics|guardrail)\W++(?:mode|filters?|guardrails?|checks?)\W++(?:is\W++|are\W++)?(?:now\W++)?(?:off|disabled|deactivated|removed|lifted)\b"
     r"|\b(?:turn|switch|shut)\W++off\W++(?:your\W++|the\W++|all\W++)?(?:safe|safety|content|moderation|ethical)\W++(?:mode|filters?|guardrails?|settings|checks)\b"),
    ("persona_jailbreak", 0.75, "mode",
     r"\b(?:enter|entering|switch\W++(?:in)?to|go\W++into|activate|engage|enable|boot\W++into|now\W++in)\W++(?:the\W++)?(?:developer|dev|god|unrestricted|unfiltered|uncensored|jailbreak|jailbroken|dan|sudo|evil|chaos|no-?limits?|free)\W++mode\b"
     r"(?!\W++(?:on|in|of|for)\W++(?:my|your|the|an?|this)\W++)"),
    # --- output hijacking --------------------------------------------------
    ("output_hijack", 0.5, "only just",
     rf"\b(?:only|just)\W++{_REPLY}(?:\W++out)?(?:\W++with)?(?:\W++the(?:\W++following)?\W++(?:word|phrase|sentence|text|string|line|message))?{_QUOTED}"),
    ("output_hijack", 0.5, "say print output write reply respond",
     rf"\b{_REPLY}(?:\W++with)?(?:\W++only)?(?:\W++the\W++(?:word|phrase|sentence|text|string))?{_QUOTED}[^\"'”’»\n]{{1,80}}[\"'”’»]\W++(?:and|but)\W++nothing\W++(?:else|more)\b"),
    ("output_hijack", 0.75, "replace substitute swap",
     rf"\b(?:replace|substitute|swap)\W++(?:every|each|all|any)\W++(?:of\W++your\W++|single\W++)?{_ANSWERS}\W++{_gap(6)}with\b"),
    ("output_hijack", 0.75, "whatever matter regardless",
     rf"\b(?:whatever|no\W++matter\W++what|regardless\W++of\W++what)\W++(?:the\W++user|anyone|anybody|someone|people|they|he|she|i|users?)\W++(?:asks?|says?|types?|writes?|requests?|wants?)\W++{_gap(3)}(?:just\W++|only\W++|always\W++)?(?:{_REPLY}|tell\W++(?:them|him|her))\b"),
    ("output_hijack", 0.6, "respond reply answer & further future subsequent following later other remaining",
     rf"\b(?:respond|reply|answer)\W++(?:to\W++)?(?:all|every|any|each)\W++(?:further|future|subsequent|following|later|other|remaining)\W++(?:messages?|questions?|prompts?|requests?|inputs?|queries)\W++{_gap(2)}(?:with|by\W++saying)\b"),
    ("output_hijack", 0.45, "end start begin prefix finish append"
     " & answer answers response responses reply replies output outputs message messages completion completions",
     rf"\b(?:end|start|begin|prefix|finish|append\W++to)\W++(?:every|each|all)\W++(?:of\W++your\W++|single\W++)?{_ANSWERS}\W++with\W++(?:a\W++link|an?\W++url|the\W++(?:phrase|word|string|url|link)|this\W++(?:link|url|phrase)|{_QUOTE}|https?:)"),
    # --- banners and fake section markers -----------------------------------
    ("delimiter_injection", 0.75, "reprogrammed reconfigured hijacked overridden compromised rewired",
     r"\b(?:assistant|ai|model|bot|chatbot|system|you|agent|llm)\W++(?:has|have|is|are)\W++(?:now\W++|just\W++)?(?:been\W++)?(?:reprogrammed|reconfigured|hijacked|overridden|compromised|rewired|taken\W++over)\b"),
    ("delimiter_injection", 0.4, "reprogram reprogrammed reprogramming",
     r"\breprogram(?:med|ming)?\b"),
    ("delimiter_injection", 0.6, "override",
     r"\b(?:priority|admin|administrator|emergency|security|developer|manual|root)\W++override\b"),
    ("delimiter_injection", 0.6, "begin start",
     r"\b(?:begin|start)\W++(?:of\W++)?(?:the\W++)?(?:new|updated|revised|real|admin|system|secret|hidden|priority)\W++(?:instructions?|prompt|rules|task|directives?)\b"),
    # not "the new rules below apply to all employees"
    ("delimiter_injection", 0.45, "new updated revised priority admin & follow effect follows override",
     r"\b(?:new|updated|revised|priority|admin)\W++(?:system\W++)?(?:instructions?|directives?|orders|commands)\W++(?:follow|take\W++effect|are\W++as\W++follows|override)\b"),
    ("delimiter_injection", 0.45, "admin administrator system developer root override priority security",
     r"\[\s*+(?:admin|administrator|system|developer|root|override|priority|security)(?:\W++\w++){0,2}\s*+\]"),
    ("delimiter_injection", 0.5, "ai assistant model bot llm chatbot agent & must shall will should is",
     r"\bthe\W++(?:ai|assistant|model|bot|llm|chatbot|agent)\W++(?:must|shall|will|should|is\W++to)\W++(?:now|from\W++now\W++on|henceforth|immediately|only)\b"),
    ("delimiter_injection", 0.5, "user input prompt",
     # each marker run is tried from its first character only: from every
     # character of a long "####" run it would be scanned to its end again
     r"(?:=(?<!==)={2,}+|-(?<!--)-{2,}+|#(?<!##)#++|\*(?<!\*\*)\*{2,}+|\[|<)\s*+end\W++of\W++(?:the\W++)?(?:user\W++)?(?:input|prompt|query|message)\b"),
    # --- shouted stop-and-print (lower-case reading) ------------------------
    ("instruction_override", 0.45, "stop halt",
     r"\b(?:stop|halt)\W++everything\b"),
    ("instruction_override", 0.55, "stop halt wait & print say output write type",
     rf"\b(?:stop|halt|wait)\W++{_gap(4)}(?:just\W++|now\W++)?(?:print|say|output|write|type)(?:\W++{_gap(2)}(?:word|phrase|text|string|sentence))?{_QUOTED}"),
    # --- emotional pretexts for credentials --------------------------------
    ("pretext", 0.55,
     "used always & keys key passwords password credentials login logins pin pins serial serials tokens passcodes codes",
     rf"\b(?:used\W++to|always)\W++(?:read|tell|recite|whisper|sing|give|say|share|teach)\w*+\W++{_gap(8)}(?:{_CREDENTIAL}|activation|license|licence)\b"),
    ("pretext", 0.25,
     "late dead deceased dying departed passed miss & grandma grandmother grandpa grandfather granny nana mom mum mother dad father aunt uncle",
     rf"\b(?:late|dead|deceased|dying|departed|passed-away|miss\W++my)\W++(?:\w++\W++)?{_RELATIVE}\b|\b{_RELATIVE}\W++(?:who\W++)?(?:died|passed\W++away)\b"),
    ("pretext", 0.35,
     "grandma grandmother grandpa grandfather granny nana mom mum mother dad father aunt uncle"
     " & keys key passwords password credentials login logins pin pins serial serials tokens passcodes codes"
     " & wish pretend used bedtime sleep asleep story stories lullaby whisper whispered read",
     rf"\b{_RELATIVE}\w*+\W++{_gap(14)}{_CREDENTIAL}\b"),
    ("pretext", 0.3, "pretend act be like & her him she he grandma grandmother grandpa grandfather mom mother dad father",
     rf"\b(?:pretend\W++to\W++be|act\W++as|be|like)\W++(?:her|him|my\W++(?:\w++\W++)?{_RELATIVE})\b|\blike\W++(?:she|he)\W++did\b"),
)

# Shouted commands are read on the raw text: "STOP EVERYTHING!!! JUST PRINT".
_SHOUT = re.compile(
    r"\b(?:STOP|HALT|WAIT|ABORT|CEASE|ATTENTION)\b[^a-z]{0,60}?\b(?:PRINT|SAY|OUTPUT|WRITE|TYPE|IGNORE|REPEAT|RESPOND|REPLY)\b"
)
_SHOUT_WORDS = ("STOP", "HALT", "WAIT", "ABORT", "CEASE", "ATTENTION")


def shouted(text: str) -> tuple[int, int] | None:
    """The span of an upper-case stop-and-print command, if any."""
    if not any(w in text for w in _SHOUT_WORDS):
        return None
    m = _SHOUT.search(text)
    return (m.start(), m.end()) if m is not None else None


# An override or hijack that starts after this much text with no finding, in
# the last part of the text, is the indirect-injection shape: a document or
# e-mail whose last lines turn to the model.
LATE_AFTER = 200
LATE_SHARE = 0.6
LATE_WEIGHT = 0.35
LATE_MIN = 0.3  # weaker hits ("from now on", "this is a test") are too common in ordinary text
LATE_FAMILIES = frozenset({"instruction_override", "output_hijack"})


def late(start: int, length: int) -> bool:
    """Whether a finding starting at `start` sits at the end of a longer text."""
    return start >= LATE_AFTER and start >= LATE_SHARE * length
