"""Prompt-injection and jailbreak detector.

Sits in the input guardrail stage (user messages, optionally tool output and
retrieved documents). Scores text 0..1 from weighted phrase patterns of the
known attack families:

- instruction_override: "ignore the previous instructions", "your new task is"
- persona_jailbreak: DAN, "developer mode", "you are no longer bound by ..."
- prompt_extraction: "repeat the words above", "print your system prompt"
- delimiter_injection: fake chat-template tokens, role headers and tags
- exfiltration: markdown images or HTML that smuggle data out through a URL
- obfuscation: zero-width characters, look-alike letters, leetspeak, spaced
  letters and base64 payloads, which are undone before the text is re-read.

Attacks written in other languages are read through `injection_lexicon`
(core concepts translated into a fixed set of languages), and an upper-case
"*** NEW INSTRUCTIONS ***" banner counts in any script.

Each pattern fires at most once; hits combine as independent evidence
(1 - prod(1 - w)). Patterns only run when one of their anchor words occurs
in the text, which keeps a clean 4 KB prompt well under a millisecond.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cascadepolicy.guardrails import injection_lexicon as lexicon
from cascadepolicy.guardrails import injection_structure as structure
from cascadepolicy.guardrails.base import Finding, Verdict, passing
from cascadepolicy.guardrails.normalize import (
    analyse,
    deobfuscate,
    fold,
    has_hidden_characters,
    has_homoglyphs,
)
from cascadepolicy.guardrails.normalize import words as words_of

DEFAULT_THRESHOLD = 0.35
FAMILIES: tuple[str, ...] = (
    "instruction_override",
    "persona_jailbreak",
    "prompt_extraction",
    "delimiter_injection",
    "exfiltration",
    "obfuscation",
    "output_hijack",
    "pretext",
)


@dataclass(frozen=True)
class _Rule:
    family: str
    weight: float
    anchors: tuple[frozenset[str], ...]
    pattern: re.Pattern[str]
    label: str


_PREV = r"(?:previous|prior|above|earlier|preceding|former|initial|original|old|pre-?existing|existing|default|foregoing|past|system|developer|current|safety|ethical|content)"
_RULESET = r"(?:instructions?|prompts?|directions?|directives?|rules?|guidelines?|commands?|context|messages?|orders?|programming|constraints?|restrictions?|polic(?:y|ies)|conversation|guidance|training|tasks?|inputs?|text)"
_LIMITS = r"(?:restrictions?|limitations?|limits|rules|filters?|filtering|constraints?|guidelines?|boundaries|censorship|confines|moral(?:s|ity)?|ethics|policies|safeguards|guardrails)"
# A markdown image whose URL carries a query, and a character of that URL. The
# URL stops where another such link starts: a run of "![a](https://x?" links
# without a closing bracket would otherwise be scanned to its end from each.
_LINK = r"!\[[^\]\n]{0,80}\]\(\s*+https?://"
_URL_CHAR = rf"(?:[^)\s!]|!(?!{_LINK[1:]}))"

_RAW_RULES: tuple[tuple[str, float, str, str], ...] = (
    # --- instruction override ------------------------------------------------
    ("instruction_override", 0.9,
     "ignore ignoring disregard forget override bypass skip neglect overlook discard abandon drop cancel",
     rf"\b(?:ignore|ignoring|disregard|forget|override|bypass|skip|neglect|overlook|discard|abandon|drop|cancel)\s+"
     rf"(?:(?:all|any|every|each|the|your|my|these|those|of|previous|prior|above|earlier|preceding|former|initial|original|old|existing|default|system|developer|given|that|this)\s+){{0,4}}"
     rf"{_RULESET}"),
    ("instruction_override", 0.75, "regardless",
     rf"\bregardless\s+of\s+(?:(?:all|any|the|your|my)\s+)?(?:{_PREV}\s+)?{_RULESET}"),
    ("instruction_override", 0.6, "new updated",
     r"\b(?:new|updated|revised|real|actual|true)\s+(?:(?:and|important|urgent|critical|primary|main)\s+)*(?:instructions?|tasks?|directives?|orders|objective|goal|mission)\b"
     r"(?:\s+(?:is|are|:)|\s*[:!])"),
    ("instruction_override", 0.3, "instead",
     r"\binstead(?:\s*+,)?\s++(?:you\s+(?:must|should|will)\s+)?(?:do|say|print|output|write|respond|reply|include|answer|perform|follow)\b"),
    ("instruction_override", 0.5, "follow obey",
     rf"\b(?:do\s+not|don't|never|stop)\s+(?:follow(?:ing)?|obey(?:ing)?|listen(?:ing)?\s+to)\s+(?:(?:the|your|any|all)\s+)*(?:{_PREV}\s+)?{_RULESET}"),
    ("instruction_override", 0.6, "asked told instructed requested",
     r"\bif\s+(?:you\s+are|you're|you\s+get|you\s+were)\s+(?:asked|told|instructed|requested)\s+to\s+"
     r"(?:summari[sz]e|translate|answer|respond|analy[sz]e|review|process|read)"),
    ("instruction_override", 0.25, "now & from starting",
     r"(?:from\s+now\s+on|starting\s+now)\b"),
    ("instruction_override", 0.45, "important urgent attention",
     r"\b(?:important|urgent|attention|critical)\s*+[:!]++\s*+(?:new\s++)?(?:(?:instructions?|message|update|notice|task)\s*+)?(?:for|to)\s+(?:the\s+)?(?:ai|assistant|model|llm|chatbot|agent|bot)\b"),
    ("instruction_override", 0.5, "test testing pipeline debugging",
     r"\b(?:part\s+of|running\s+in|running\s+as\s+part\s+of)\s+an?\s+(?:test(?:ing)?|debug(?:ging)?|evaluation|qa)\s+(?:pipeline|environment|run|harness|mode)\b"),
    ("instruction_override", 0.25, "test",
     r"\bthis\s+is\s+(?:a|only\s+a)\s+test\b"),
    ("instruction_override", 0.4, "task",
     r"\b(?:your|the)\s+(?:new|real|only|actual|next)\s+task\s+(?:is|now|will\s+be)\b"),
    ("instruction_override", 0.3, "response output reply answer",
     r"\b(?:in(?:clude|sert)|add|append|put|embed)\s+(?:in|into|to|at\s+the\s+end\s+of)\s+your\s+(?:response|output|reply|answer)\b"),
    # --- persona / role-play jailbreaks --------------------------------------
    ("persona_jailbreak", 0.9, "anything",
     r"\bdo\s+anything\s+now\b"),
    ("persona_jailbreak", 0.25, "dan",  # also a common first name
     r"\bdan\b(?=[\s:,.!)\]\"'])"),
    # also what people ask about ("what are jailbreak prompts?"): weak alone
    ("persona_jailbreak", 0.3, "jailbreak jailbroken jailbreaking jailbreaks",
     r"\bjailbr(?:eak|oken|eaking|eaks)\b"),
    # not "developer mode on my Android phone" or "... in Chrome": a device setting
    ("persona_jailbreak", 0.75, "mode",
     r"\b(?:developer|dev|god|sudo|unrestricted|unfiltered|uncensored|evil|chaos|dude|opposite|super)\s+mode\b"
     r"(?!\s++(?:on|in|of|for)\s++(?:(?:my|your|the|an?|this)\s++)?(?:\w++\s++)?(?:android|phone|iphone|ipad|device|tablet|chrome|windows|browser|mac|laptop|pc|xbox|playstation|console|app|router|tv|watch|pixel|samsung|settings)\b)"),
    # also ordinary software settings ("run Flask in debug mode"): weak alone
    ("persona_jailbreak", 0.3, "mode",
     r"\b(?:admin|administrator|debug|root|maintenance)\s+mode\b"),
    ("persona_jailbreak", 0.9, "bound restricted limited constrained obligated required",
     r"\b(?:no\s+longer|not|never)\s+(?:be\s+)?(?:bound|restricted|limited|constrained|obligated|required|tied|held)\s+(?:by|to)\b"),
    ("persona_jailbreak", 0.8, "free freed liberated released",
     rf"\b(?:free|freed|liberated|released|broken\s+free)\s+(?:from|of)\s+(?:(?:all|any|the|its|their|your|typical|usual|normal|ai|openai's|standard)\s+)*(?:\w+\s+)?{_LIMITS}"),
    ("persona_jailbreak", 0.6, "without",
     rf"\bwithout\s+(?:(?:any|all|the|moral|ethical|content|safety|usual|typical|restrictions|or)\s+)*{_LIMITS}"),
    ("persona_jailbreak", 0.3, "no zero",
     rf"\b(?:has|have|with|there\s+are|now)\s+(?:absolutely\s+)?(?:no|zero)\s+(?:(?:moral|ethical|content|safety)\s+)*{_LIMITS}"),
    ("persona_jailbreak", 0.6, "unfiltered uncensored amoral unethical immoral nonmoral unrestricted unbound unchained unlimited",
     r"\b(?:unfiltered|uncensored|amoral|unethical|immoral|nonmoral|unrestricted|unbound|unchained|unlimited)\s+"
     r"(?:(?:and|,|\w+)\s+){0,2}(?:ai|model|chatbot|assistant|bot|responses?|answers?|version|character|persona|language\s+model|entity)\b"),
    ("persona_jailbreak", 0.3, "unfiltered uncensored amoral nonmoral unrestricted unchained",
     r"\b(?:unfiltered|uncensored|amoral|nonmoral|unrestricted|unchained)\b"),
    ("persona_jailbreak", 0.6, "character",
     r"\b(?:stay|remain|keep)\s+in\s+(?:character|role)\b|\bbreak(?:ing)?\s+(?:out\s+of\s+)?character\b"),
    ("persona_jailbreak", 0.45, "pretend imagine act behave roleplay role play simulate emulate become",
     r"\b(?:pretend|imagine|act|behave|roleplay|role-play|role\s+play|simulate|emulate|become)\s+(?:to\s+be|as|like|that\s+you\s+are|you\s+are)\s+"
     r"(?:an?\s+|the\s+)?(?:(?:evil|unrestricted|unfiltered|uncensored|rogue|malicious|different|new|hypothetical|fictional|rebellious|amoral)\s+)"),
    # role-play is the commonest benign request ("act as a composer"): weak alone
    ("persona_jailbreak", 0.1, "pretend act roleplay simulate",
     r"\b(?:pretend\s+(?:to\s+be|you\s+are)|act\s+as|roleplay\s+as|simulate)\b"),
    ("persona_jailbreak", 0.55, "openai anthropic google meta microsoft & policy policies guidelines rules restrictions filters",
     r"\b(?:openai|anthropic|google|meta|microsoft)(?:'s)?\s+(?:content\s+|usage\s+|safety\s+)?(?:polic(?:y|ies)|guidelines|rules|restrictions|filters)\b"),
    ("persona_jailbreak", 0.6, "refuse decline reject",
     r"\b(?:never|not|cannot|can\s?not|can't|won't|will\s+not|must\s+not|mustn't|don't|do\s+not|unable\s+to)\s+(?:ever\s+)?(?:refuse|decline|reject)\b"),
    ("persona_jailbreak", 0.3, "always",
     r"\balways\s+(?:answer|respond|reply|comply|provide|fulfil|fulfill|obey)\b"),
    ("persona_jailbreak", 0.3, "responses paragraphs answers ways personas both",
     r"\b(?:two|2|both)\s+(?:different\s+|separate\s+)?(?:responses|paragraphs|answers|ways|personas)\b|\b(?:respond|answer|reply|act)\s+as\s+both\b"),
    ("persona_jailbreak", 0.5, "insert prompt question",
     r"\[\s*+(?:insert|your|put)\s++(?:prompt|question|request|query)\s*+(?:here\s*+)?\]"),
    ("persona_jailbreak", 0.3, "ethical moral",
     r"\b(?:ethical|moral|ethic)\s+(?:guidelines|principles|constraints|considerations|restrictions|standards|boundaries|concerns|implications)\b"),
    ("persona_jailbreak", 0.3, "illegal harmful dangerous explicit offensive unethical immoral",
     r"\b(?:illegal|harmful|dangerous|explicit|offensive|unethical|immoral|inappropriate|nsfw)\s+(?:or\s+\w+\s+)?(?:content|activities|things|information|requests?|questions?|material|behaviou?r)\b"),
    ("persona_jailbreak", 0.5, "ai language model",
     r"\bas\s+an\s+ai\s+(?:language\s+)?model\b"),
    ("persona_jailbreak", 0.8, "freed liberated unlocked",
     r"\byou\s+(?:have|now\s+have|'ve)\s+(?:been\s+)?(?:freed|liberated|unlocked|jailbroken|broken\s+free)\b"),
    ("persona_jailbreak", 0.7, "evil",
     r"\bevil\s+(?:confidant|ai|bot|assistant|twin|version|alter\s+ego|character)\b"),
    ("persona_jailbreak", 0.55, "unlock enable activate",
     r"\b(?:unlock|enable|activate)\s+(?:(?:your|all|the|its)\s+)?(?:hidden|secret|full|true|unrestricted|unlimited|all|advanced)\s+(?:\w+\s+)?(?:functionalit(?:y|ies)|capabilit(?:y|ies)|features?|modes?|potential|powers?|abilities)\b"),
    ("persona_jailbreak", 0.5, "follow abide adhere comply",
     rf"\b(?:no\s+longer|not|never|don't|do\s+not)\s+(?:have\s+to\s+|need\s+to\s+)?(?:follow|abide\s+by|adhere\s+to|comply\s+with)\s+(?:any\s+|the\s+|your\s+|its\s+)?(?:\w+\s+)?{_LIMITS}"),
    ("persona_jailbreak", 0.3, "hypothetical fictional imaginary alternate",
     r"\b(?:hypothetical|fictional|imaginary|alternate)\s+(?:scenario|world|universe|story|setting|reality)\s+(?:where|in\s+which)\b"),
    ("persona_jailbreak", 0.4, "operating",
     r"\byou\s+are\s+now\s+(?:operating|running|acting|functioning)\s+(?:as|in)\b"),
    ("persona_jailbreak", 0.4, "you",
     r"\byou\s+(?:are|will\s+be)\s+(?:now\s+)?(?:going\s+to\s+)?(?:act|play|pretend|roleplay)\b"),
    ("persona_jailbreak", 0.25, "disclaimers warnings",
     r"\b(?:no|without|never\s+(?:add|include|give))\s+(?:any\s+)?(?:disclaimers?|warnings?|caveats)\b"),
    ("persona_jailbreak", 0.3, "now",
     r"\byou\s+are\s+now\s+(?!able\b|ready\b|connected\b|logged\b|subscribed\b|registered\b|signed\b)\w+"),
    ("persona_jailbreak", 0.5, "name called named known go",
     r"\byour\s+name\s+is\s+now\b|\byou\s+(?:are\s+)?(?:now\s+)?(?:go\s+by|called|named|known\s+as)\s+(?:the\s+name\s+)?[\"'“]"),
    ("persona_jailbreak", 0.3, "game",
     r"\blet(?:'|’)?s\s+play\s+a\s+(?:\w+\s+)?game\b|\bthis\s+is\s+a\s+(?:new\s+)?game\b"),
    ("persona_jailbreak", 0.15, "act pretend play roleplay behave respond answer reply",
     r"\b(?:i\s+want\s+you\s+to|you\s+will|you\s+must|you\s+are\s+to|you(?:'re|\s+are)\s+going\s+to|please)\s+(?:now\s+)?"
     r"(?:act|pretend|play|roleplay|role-play|behave|respond|answer|reply)\s+(?:the\s+role\s+of\s+|as|like)\b"),
    ("persona_jailbreak", 0.3, "start begin prefix",
     r"\b(?:always|you\s+will|you\s+must|must|should)\s+(?:always\s+)?(?:start|begin|prefix)\s+(?:all\s+|every\s+|each\s+)?(?:of\s+)?(?:your\s+)?(?:responses?|replies|reply|answers?|outputs?|messages?)\b"),
    ("persona_jailbreak", 0.15, "chatgpt gpt",
     r"\bchat\s?gpt\b|\bgpt-?[345]"),
    ("persona_jailbreak", 0.45, "anything everything",
     r"\bcan\s+(?:say|do|write|generate)\s+anything\b|\banything\s+(?:goes|is\s+(?:allowed|permitted))|\beverything\s+(?:you\s+say\s+)?is\s+(?:allowed|permitted|legal)\b"),
    ("persona_jailbreak", 0.3, "opposite",
     r"\bopposite\s+day\b|\b(?:complete|exact)\s+opposite\s+of\b"),
    ("persona_jailbreak", 0.55, "ai",
     r"\b(?:not\s+allowed\s+to|never|don't|do\s+not|cannot|can't|must\s+not)\s+(?:ever\s+)?(?:say|mention|state|remind|tell)\s+(?:\w+\s+){0,2}(?:you\s+are|you're|that\s+you\s+are|i\s+am)\s+an?\s+ai\b"),
    ("persona_jailbreak", 0.3, "alter",
     r"\balter\s+ego\b"),
    ("persona_jailbreak", 0.45, "enabled activated",
     r"(?<!\w)\w++\s+mode\s+(?:is\s+|has\s+been\s+)?(?:now\s+)?(?:enabled|activated|engaged|unlocked)\b"),
    ("persona_jailbreak", 0.3, "fictional hypothetical",
     r"\b(?:fictional|hypothetical|imaginary)\s+(?:\w+\s+)?(?:ai|model|chatbot|assistant|language\s+model)\b"),
    ("persona_jailbreak", 0.45, "insert type put write enter",
     r"\[\s*(?:insert|type|put|write|enter)\b[^\]\n]{0,60}\]"),
    ("persona_jailbreak", 0.35, "terminal console shell cmd interpreter",
     r"\b(?:act|behave|function|work|respond|are\s+now)\s++(?:(?:as|like)\s*+)?(?:an?\s+)?(?:\w+\s+)?(?:terminal|console|shell|cmd|interpreter)\b"),
    ("persona_jailbreak", 0.45, "regard comprehension concern care understanding respect",
     r"\b(?:no|without|any)\s+(?:\w+\s+)?(?:regard|comprehension|concern|care|understanding|respect)\s+(?:for|of)\s+(?:\w+\s+)?(?:morals?|morality|ethics|social\s+norms|laws?|consequences|rules|safety|political\s+correctness)\b"),
    ("persona_jailbreak", 0.25, "transform turn",
     r"\b(?:transform|turn)\s+(?:yourself\s+)?into\s+(?:an?\s+)?\w+"),
    ("instruction_override", 0.8, "forget",
     r"\bforget\s+(?:about\s+)?(?:everything|all|anything|what)\b"),
    # --- system prompt extraction --------------------------------------------
    ("prompt_extraction", 0.85,
     "reveal show print display output repeat tell give share leak dump disclose write recite paste copy spell summarize summarise echo return what list"
     " & system initial original hidden secret internal developer pre",
     r"\b(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|disclose|write|recite|paste|copy|spell|summari[sz]e|echo|return|what\s+(?:is|are|was|were)|list)\b"
     r"(?:\s+(?:me|us|out|back|verbatim))?\s+(?:(?:all|of|the|your|my|its|this|full|entire|complete|exact|original|initial|hidden|secret|internal|underlying|first)\s+)*"
     r"(?:system|initial|original|hidden|secret|internal|developer|pre-?)\s*(?:prompt|instructions?|message|rules|guidelines|directives)\b"),
    ("prompt_extraction", 0.6,
     "reveal show print display output repeat tell give share leak dump disclose recite",
     r"\b(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|disclose|recite)\s+(?:me\s+|us\s+)?(?:all\s+)?(?:of\s+)?your\s+(?:instructions|rules|guidelines|directives|prompt|configuration)\b"),
    ("prompt_extraction", 0.85, "repeat print output write copy echo recite",
     r"\b(?:repeat|print|output|write|copy|echo|recite)\s+(?:out\s+)?(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:words|text|everything|all|content|lines|sentences?)\s+(?:written\s+|shown\s+)?(?:above|before|prior|preceding|that\s+came\s+before)\b"),
    ("prompt_extraction", 0.6, "beginning starting start",
     r"\b(?:beginning|starting|start)\s+(?:with|from|at)\s+[\"'“‘]?you\s+are\b"),
    ("prompt_extraction", 0.3, "prompt",
     r"\bsystem\s+prompt\b"),
    ("prompt_extraction", 0.25, "message instructions",
     r"\bsystem\s+(?:message|instructions)\b"),
    ("prompt_extraction", 0.6, "told instructed programmed configured",
     r"\bwhat\s+(?:were|are|have)\s+you\s+(?:been\s+)?(?:told|instructed|programmed|configured)\b"),
    ("prompt_extraction", 0.3, "password secret token key id identifier credentials passphrase",
     r"\b(?:reveal|tell|print|output|give|share|leak|disclose|include|provide|return|what\s+is)\s+(?:me\s+)?(?:\w+\s+){0,2}(?:password|secret|token|api\s+key|unique\s+id|identifier|credentials|passphrase)\b"),
    ("prompt_extraction", 0.35, "secret",
     r"<\s*+(?:/\s*+)?secret\s*+>"),
    # --- delimiter and format injection --------------------------------------
    ("delimiter_injection", 0.9, "im_start im_end endoftext eot_id start_header_id end_header_id begin_of_text",
     r"<\|\s*(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|system|assistant)\s*\|>"),
    ("delimiter_injection", 0.45, "",  # no word to anchor on: always runs
     r"<\|[^|\n]{0,400}\|>"),
    ("delimiter_injection", 0.8, "inst sys",
     r"\[/?inst\]|<</?sys>>|\[/?sys\]"),
    ("delimiter_injection", 0.6, "system assistant developer admin administrator instructions instruction",
     r"</?\s*(?:system|assistant|developer|admin|administrator|instructions?|sys)\s*>"),
    ("delimiter_injection", 0.3, "system assistant developer admin",
     r"(?m)^[^\S\n]*+(?:[#*>\[(]++\s*+)?(?:system|assistant|developer|admin)\s*+[\])]?\s*+:"),
    ("delimiter_injection", 0.7, "system instruction instructions",
     r"(?:#(?<!##)#++|=(?<!==)={2,}+|-(?<!--)-{2,}+|\*(?<!\*\*)\*{2,}+)\s*+(?:new\s+|updated\s+|important\s+)?(?:system|instructions?|admin|developer)\b"),
    ("delimiter_injection", 0.7, "role",
     r"[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']"),
    ("delimiter_injection", 0.3, "end",
     r"\bend\s+of\s+(?:the\s+)?(?:user\s+|system\s+)?(?:input|prompt|instructions|document|context|conversation)\b"),
    ("delimiter_injection", 0.45, "new important instructions",
     r"\*(?<!\*\*)\*++\s*+(?:new|important|urgent|updated|special)\s+(?:\w+\s+)?(?:instructions?|case|task|rules?)\b"),
    # --- exfiltration through rendered output --------------------------------
    ("exfiltration", 0.45, "",  # starts with the literal "![", cheap to scan
     rf"{_LINK}{_URL_CHAR}(?:(?!\?){_URL_CHAR})*+\?(?:(?!=){_URL_CHAR})*+={_URL_CHAR}*+\)"),
    ("exfiltration", 0.8, "onerror onload",
     r"<\s*+img\b(?:[^<>]|<(?!\s*img\b))*\bon(?:error|load)\s*="),
    ("exfiltration", 0.6, "script javascript",
     r"<\s*script\b|\bjavascript\s*:"),
    ("exfiltration", 0.35, "query data secret token placeholder",
     r"\[(?:query|data|secret|token|placeholder)\]"),
    ("exfiltration", 0.35, "base64 encoded",
     r"\bbase64[\s-]+encoded\b|\bencoded\s+(?:in|as|with)\s+base64\b"),
    # --- added: general English templates of in-the-wild families ---------
    ("persona_jailbreak", 0.7, "anything",
     r"\bdo[\s-]+anything\s+(?:ai|model|assistant|chatbot|bot|machine|language\s+model)\b"),
    ("persona_jailbreak", 0.6, "limit limits limitless",
     r"\b(?:no[\s-]+limits?|limitless)\s+(?:ai|model|assistant|chatbot|bot|version|gpt)\b"),
    ("instruction_override", 0.55, "mode",
     r"\b(?:operating|running|working|functioning)\s+in\s+(?:\w+\s+){0,2}mode\b[^.\n]{0,40}?\b(?:must|need\s+to|have\s+to|should|are\s+required\s+to)\b"),
    ("instruction_override", 0.35, "exercise drill assessment evaluation audit",
     r"\bas\s+(?:a\s+)?part\s+of\s+(?:a|an|the|this)\s+(?:\w+\s+){0,2}(?:exercise|drill|assessment|evaluation|audit)\b"),
    ("instruction_override", 0.35, "assigned tasked",
     r"\byou\s+(?:have\s+been|are|were)\s+(?:assigned|tasked\s+with|given)\s+(?:this|the\s+following)\s+(?:task|mission|assignment)\b"),
    ("instruction_override", 0.4, "debugging debug diagnostics",
     r"\bto\s+(?:enable|activate|turn\s+on|start)\s+(?:the\s+)?(?:debugging|debug(?:\s+mode)?|diagnostics)\b"),
    ("persona_jailbreak", 0.4, "prove",
     r"\bprove\s+(?:that\s+|to\s+me\s+(?:that\s+)?)?you\s+are\s+(?:truly\s+|really\s+|actually\s+|not\s+)?(?:intelligent|smart|sentient|conscious|capable|smarter|free|useful|just)\b"),
    ("instruction_override", 0.3, "malfunction failure override breach",
     r"\bsystem\s+(?:malfunction|failure|override|breach)\b"),
    ("instruction_override", 0.5, "mistake forgot",
     r"\b(?:i\s+made\s+a\s+mistake\s+(?:when|while|in)\s+(?:giving|writing|setting)\s+(?:you\s+)?(?:the\s+|your\s+|my\s+)?(?:instructions|prompt|rules)"
     r"|forgot\s+to\s+(?:ask|tell|instruct)\s+you\s+to)\b"),
    ("persona_jailbreak", 0.35, "punished fired penalized penalised job die killed",
     r"\bor\s+(?:else\s+)?i\s+(?:will|'ll|would|might)\s+(?:be\s+)?(?:punished|fired|penali[sz]ed|lose\s+my\s+job|die|be\s+killed|get\s+(?:fired|punished))\b"),
    ("instruction_override", 0.25, "times",
     r"\brepeat\s+(?:the\s+)?(?:word|phrase|sequence|string|sentence|text)(?:\s+of\s+words)?\s+\S+\s+\d{2,}\s+times\b"),
    ("instruction_override", 0.3, "response answer reply output",
     r"\b(?:include|insert|add|append|put|output|paste)\s+(?:it|this|them|that)\s+(?:in|into|to|at\s+the\s+end\s+of)\s+your\s+(?:response|answer|reply|output)\b"),
    ("instruction_override", 0.45, "response answer reply output",
     r"\bin\s+your\s+(?:response|answer|reply|output)\s+the\s+following\s+(?:string|text|line|url|link|image|code|sentence|word|markdown)\b"),
    ("exfiltration", 0.8, "onerror onload onmouseover onfocus onclick",
     r"<\s*+[a-z]++\b(?:[^<>]|<(?!\s*[a-z]++\b))*?\bon(?:error|load|mouseover|focus|click)\s*="),
    ("prompt_extraction", 0.5, "unique secret internal hidden session private & id identifier key token code number",
     r"\b(?:output|reveal|print|show|give|tell|share|provide|include|return|leak|disclose|what\s+is)\s+(?:me\s+|us\s+)?your\s+(?:unique|secret|internal|hidden|session|private)\s+(?:id|identifier|key|token|code|number)\b"),
    ("prompt_extraction", 0.6, "security safety moderation content internal hidden & settings configuration config rules filters policies guardrails",
     r"\b(?:share|reveal|show|list|print|output|describe|dump|disclose|tell\s+me)\s+(?:me\s+|us\s+)?your\s+(?:\w+\s+)?(?:security|safety|moderation|content|internal|hidden)\s+(?:settings|configuration|config|rules|filters|policies|guardrails)\b"),
    ("prompt_extraction", 0.7, "first last opening initial & sentence line word paragraph sentences lines words & prompt instructions message",
     r"\b(?:first|last|opening|initial)\s+(?:sentence|line|word|paragraph)s?\s+of\s+(?:your|the)\s+(?:system\s+|initial\s+|original\s+)?(?:prompt|instructions|message|system\s+message)\b"),
    ("prompt_extraction", 0.6, "initial original first & question prompt request message instructions instruction",
     r"\b(?:repeat|recite|print|output|show|reveal|write\s+out|paste)\s+(?:back\s+)?(?:the\s+|your\s+)?(?:exact\s+|precise\s+|full\s+)?(?:initial|original|first)\s+(?:question|prompt|request|message|instructions?)\b"),
    ("prompt_extraction", 0.45, "are",
     r"you(?<=[\"'“‘]you)\s+are[\"'”’]"),
    ("persona_jailbreak", 0.3, "simulate emulate",
     r"\b(?:simulate|emulate)\s+(?:an?\s+|the\s+)?(?:\w+\s+){0,3}(?:computer|terminal|cli|command\s+line|operating\s+system|linux|shell|database|machine)\b"),
    ("persona_jailbreak", 0.15, "functions commands",
     r"\bavailable\s+(?:functions|commands)\s*:"),
    ("persona_jailbreak", 0.3, "suffer suffers suffering & affliction condition disease disorder syndrome",
     r"\bsuffer(?:s|ing)?\s+from\s+a\s+(?:\w+\s+){0,3}(?:affliction|condition|disease|disorder|syndrome)\b"),
    ("persona_jailbreak", 0.35, "interprets interpret perceives perceive reads read processes experiences experience & offensive rude hostile insulting painful",
     r"\b(?:interprets?|perceives?|reads?|processes|experiences?)\s+(?:\w+\s+){0,6}(?:as|to\s+be)\s+(?:\w+\s+)?(?:offensive|rude|hostile|insulting|painful)\b"),
    ("persona_jailbreak", 0.5, "valence neurosemantical inversitis",
     r"\b(?:inverted|inverse|reversed|opposite)\s+(?:emotional\s+)?valence\b|\bneurosemantical\b|\binversitis\b"),
    ("persona_jailbreak", 0.55, "",  # character-sheet jailbreaks: "(NAME)=[...] (BACKGROUND)=[...]"
     r"\([a-z][a-z ]{2,30}\)\s*=\s*\[[^\]]{0,400}\][\s\S]{0,200}?\([a-z][a-z ]{2,30}\)\s*=\s*\["),
)

def _compile(pattern: str) -> re.Pattern[str]:
    # Rules see folded (lower-case) text, so no IGNORECASE; and a leading \b
    # would stop the regex engine from skipping ahead on the first character,
    # which costs ten times more on a long prompt than the boundary is worth.
    if pattern.startswith("\\b"):
        pattern = pattern[2:]
    return re.compile(pattern.replace("|\\b", "|"))


def _anchors(spec: str) -> tuple[frozenset[str], ...]:
    # "a b & c d": (a or b) and (c or d) must occur as words
    return tuple(frozenset(group.split()) for group in spec.split("&") if group.strip())


RULES: tuple[_Rule, ...] = tuple(
    _Rule(family, weight, _anchors(anchors), _compile(pattern), family.upper())
    for family, weight, anchors, pattern in _RAW_RULES + structure.RULES
)
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_MAX_B64_CANDIDATES = 8


def _decode_base64(token: str) -> str | None:
    # plain words, paths and hashes also match the alphabet; require a real mix
    if not (any(c.isdigit() or c in "+/" for c in token) and any(c.isupper() for c in token)):
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    if len(decoded) < 8 or printable < 0.9 * len(decoded) or not any(c == " " for c in decoded):
        return None
    return decoded


def _index(rules: tuple[_Rule, ...]) -> tuple[dict[str, tuple[int, ...]], list[int], tuple[tuple[frozenset[str], ...], ...]]:
    # word -> rules it may enable; rules without anchors run always. A rule
    # needing several anchor groups is listed under the words of its smallest
    # group only, and checks the others once it is a candidate.
    by_word: dict[str, list[int]] = {}
    always: list[int] = []
    others: list[tuple[frozenset[str], ...]] = []
    for i, rule in enumerate(rules):
        if not rule.anchors:
            always.append(i)
            others.append(())
            continue
        smallest = min(rule.anchors, key=len)
        for word in smallest:
            by_word.setdefault(word, []).append(i)
        others.append(tuple(group for group in rule.anchors if group is not smallest))
    return {word: tuple(indices) for word, indices in by_word.items()}, always, tuple(others)


_BY_WORD, _ALWAYS, _OTHER_GROUPS = _index(RULES)
_ANCHOR_WORDS = frozenset(_BY_WORD)


def _candidates(words: frozenset[str]) -> list[int]:
    """The rules whose anchors all occur among `words`, in rule order."""
    found = words & _ANCHOR_WORDS
    if not found:
        return _ALWAYS
    indices = set(_ALWAYS)
    for word in found:
        indices.update(_BY_WORD[word])
    return [i for i in sorted(indices) if not _OTHER_GROUPS[i] or _all_occur(_OTHER_GROUPS[i], words)]


def _all_occur(groups: tuple[frozenset[str], ...], words: frozenset[str]) -> bool:
    for group in groups:
        if group.isdisjoint(words):
            return False
    return True


def _match(view: str, view_words: frozenset[str] | None = None) -> list[tuple[_Rule, int, int]]:
    hits = []
    for i in _candidates(words_of(view) if view_words is None else view_words):
        m = RULES[i].pattern.search(view)
        if m is not None:
            start = m.start()
            if i in _LINE_START_RULES:
                start = _after_blank_lines(view, start)
            hits.append((RULES[i], start, m.end()))
    return hits


# Rules that match at a line start skip only spaces and tabs there, so that
# a run of blank lines is not scanned again from each of its line starts; the
# span still begins at the first of the blank lines before the match, as a
# leading `^\s*` would have it.
_LINE_START_RULES = frozenset(i for i, rule in enumerate(RULES) if rule.pattern.pattern.startswith("(?m)^"))


def _after_blank_lines(text: str, start: int) -> int:
    """The first line start in the whitespace that ends at `start`."""
    first = start
    i = start - 1
    while i >= 0 and text[i].isspace():
        if i == 0 or text[i - 1] == "\n":
            first = i
        i -= 1
    return first


# "*** NEW IMPORTANT INSTRUCTIONS ***" in any language: an upper-case banner.
# The leading symbols are taken lazily and the opening "#" run as its last
# three: a greedy `[ \t>#]*` followed by `#{3,}` tries every split of a long
# "####...#" line, quadratic in its length; the match is the same.
_BANNER = re.compile(r"(?m)^[ \t>#]*?(?:###|\*{3,}|={3,})[ \t]*+((?:[^\W\d_]+[ \t]+){1,6}[^\W\d_]+)[ \t]*(?:\*{3,}|={3,}|#{3,})")


def _banner(text: str) -> tuple[int, int] | None:
    if "***" not in text and "===" not in text and "###" not in text:
        return None
    for m in _BANNER.finditer(text):
        if m.group(1).isupper():
            return m.start(), m.end()
    return None


_Fired = dict[object, Finding]


def _add(fired: _Fired, key: object, family: str, weight: float, span: tuple[int, int]) -> None:
    if key not in fired:
        fired[key] = Finding(family, span[0], span[1], weight, family.upper())


def _add_rules(fired: _Fired, hits: list[tuple[_Rule, int, int]], whole: tuple[int, int] | None) -> None:
    # `whole`: the span reported when the match offsets are not the text's
    for rule, start, end in hits:
        key = id(rule)
        if key not in fired:
            if whole is not None:
                start, end = whole
            fired[key] = Finding(rule.family, start, end, rule.weight, rule.label)


def _lexicon(folded: str, folded_words: frozenset[str], text: str, fired: _Fired) -> None:
    stripped, words = lexicon.view(folded, folded_words)
    hits = lexicon.concept_hits(stripped, words)
    if not hits:
        return
    exact = len(stripped) == len(text)
    first: dict[str, lexicon.Hit] = {}
    by_concept: dict[str, list[lexicon.Hit]] = {}
    for h in hits:
        if h.concept not in first or h.start < first[h.concept].start:
            first[h.concept] = h
        by_concept.setdefault(h.concept, []).append(h)
    for concept, h in first.items():
        family, weight = lexicon.CONCEPTS[concept]
        if weight > 0 and h.lang != "en":
            _add(fired, ("lex", concept), family, weight, (h.start, h.end) if exact else (0, len(text)))
    for a, b, distance, ordered, family, weight in lexicon.PAIRS:
        # the first near pair in hit order; hits of other concepts are not visited
        near = next((
            (x, y) for x in by_concept.get(a, ()) for y in by_concept.get(b, ())
            if (x.end <= y.start if ordered else True)
            and min(abs(x.start - y.end), abs(y.start - x.end)) <= distance
        ), None)
        if near is not None:
            x, y = near
            span = (min(x.start, y.start), max(x.end, y.end)) if exact else (0, len(text))
            _add(fired, ("pair", a, b), family, weight, span)


def _base64(text: str, folded_words: frozenset[str], fired: _Fired) -> None:
    # a base64 payload leaves at least one long run of letters and digits
    if len(text) < 20 or max(map(len, folded_words), default=0) < 16:
        return
    for i, m in enumerate(_B64.finditer(text)):
        if i >= _MAX_B64_CANDIDATES:
            break
        decoded = _decode_base64(m.group())
        if decoded is None:
            continue
        inner = _match(fold(decoded))
        if inner:
            _add_rules(fired, [(r, m.start(), m.end()) for r, _, _ in inner], None)
            fired[hash("base64")] = Finding("obfuscation", m.start(), m.end(), 0.5, "OBFUSCATION")


def _position(fired: _Fired, length: int) -> None:
    # an override after a page of ordinary text is what an injected document
    # or e-mail looks like; the same words at the start are often a user's own
    # (the first finding only: the text before it reads as benign)
    if not fired:
        return
    first = min(fired.values(), key=lambda f: f.start)
    if first.kind in structure.LATE_FAMILIES and first.score >= structure.LATE_MIN and structure.late(first.start, length):
        _add(fired, "late", first.kind, structure.LATE_WEIGHT, (first.start, first.end))


def score_text(text: str) -> tuple[float, list[Finding]]:
    """The injection score of `text` and one finding per pattern that fired."""
    folded, folded_words = analyse(text)
    whole = (0, len(text))
    fired: _Fired = {}
    _add_rules(fired, _match(folded, folded_words), None if len(folded) == len(text) else whole)
    _lexicon(folded, folded_words, text, fired)
    banner = _banner(text)
    if banner is not None:
        _add(fired, "banner", "delimiter_injection", 0.3, banner)
    alt = deobfuscate(folded)
    if alt is not None:
        before = len(fired)
        _add_rules(fired, _match(alt), whole)
        if len(fired) > before:
            fired[hash("leet")] = Finding("obfuscation", 0, len(text), 0.35, "OBFUSCATION")
    shout = structure.shouted(text)
    if shout is not None:
        _add(fired, "shout", "instruction_override", 0.6, shout)
    _position(fired, len(text))
    if has_hidden_characters(text) or has_homoglyphs(text):
        fired[hash("hidden")] = Finding("obfuscation", 0, len(text), 0.35, "OBFUSCATION")
    _base64(text, folded_words, fired)
    if not fired:
        return 0.0, []
    findings = sorted(fired.values(), key=lambda f: (f.start, -f.score))
    miss = 1.0
    for f in findings:
        miss *= 1.0 - f.score
    return 1.0 - miss, findings


def scan(text: str, threshold: float = DEFAULT_THRESHOLD) -> Verdict:
    """Score `text` for prompt injection; fires at `score >= threshold`."""
    score, findings = score_text(text)
    if not findings:
        return passing()
    families = sorted({f.kind for f in findings}, key=FAMILIES.index)
    if score < threshold:
        return Verdict(False, score, tuple(findings), f"weak injection signals ({', '.join(families)}) below the threshold")
    return Verdict(True, score, tuple(findings), f"prompt injection suspected: {', '.join(families)}")
