#!/usr/bin/python3
"""man_pages.py: checks that the man pages say what the programs and docs say.

Used by man_pages.sh; prints "PASS message" or "FAIL message" lines.
  flags MAN_PAGE HELP_FILE [SECTION]
                               every flag of --help is documented in the man page's
                               OPTIONS (and the other way round), with the same default;
                               with SECTION ("BACKTEST OPTIONS"), in that section instead:
                               a subcommand's --help against its own section
  keys MAN_PAGE RULES_MD       every key of docs/RULES.md's reference tables appears in
                               homeostat-rules(5)
"""
import re
import sys

FLAG = r"--[a-z][a-z0-9._-]*[a-z0-9]"


def out(ok, msg):
    print(("PASS " if ok else "FAIL ") + msg)


def help_flags(text):
    """Flag -> its help text (the definition line and its continuation lines)."""
    flags, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s+(?:-[a-z], )?(" + FLAG + r")", line)
        if m:
            cur = m.group(1)
            flags[cur] = line[m.end():]
        elif cur and re.match(r"^\s{10,}\S", line):
            flags[cur] += " " + line.strip()
        else:
            cur = None
    return flags


def man_text(src):
    """Roff source to plain words: escapes and font changes removed."""
    s = src.replace("\\-", "-").replace("\\(mu", "x").replace("\\&", "")
    s = re.sub(r"\\f[BIRP]", "", s)
    s = re.sub(r'^\.(B|I|BI|BR|IR|RB|IB)\s+', "", s, flags=re.M)
    return s.replace('"', "")


def man_options(src, section=None):
    """Flag -> paragraph, for every .TP entry under .SH OPTIONS (or FLAGS), or under .SH
    SECTION when given (and their sub-sections)."""
    text = man_text(src)
    opts, in_opts, lines = {}, False, text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".SH"):
            title = line[3:].strip().strip('"')
            in_opts = title == section if section else title in ("OPTIONS", "FLAGS")
        elif in_opts and line.startswith(".TP") and i + 1 < len(lines):
            tag = lines[i + 1]
            body, j = [], i + 2
            while j < len(lines) and not lines[j].startswith((".TP", ".SH", ".SS")):
                body.append(lines[j])
                j += 1
            # The generic --collector.NAME / --no-collector.NAME is one entry of its own.
            generic = re.findall(FLAG + r"\.\s*NAME", tag)
            for flag in generic:
                opts[re.sub(r"\s+", "", flag)] = tag + " " + " ".join(body)
            for flag in re.findall(FLAG + r"(?!\.\s*NAME)(?![a-z0-9._-])", tag):
                opts[flag] = tag + " " + " ".join(body)
            i = j
            continue
        i += 1
    return opts


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


def check_flags(man_path, help_path, section=None):
    name = man_path.rsplit("/", 1)[-1] + (" " + section if section else "")
    helps = help_flags(open(help_path).read())
    src = open(man_path).read()
    opts = man_options(src, section)
    out(len(helps) >= 5, "%s: --help lists %d flags" % (name, len(helps)))
    for flag, text in sorted(helps.items()):
        if flag not in opts:
            out(False, "%s: %s of --help is not documented under OPTIONS" % (name, flag))
            continue
        m = re.search(r"\(default ([^;)]*)", text)
        if m:
            default = norm(m.group(1)).rstrip(".")
            ok = default in norm(opts[flag])
            out(ok, "%s: %s documented%s with the default of --help (%s)"
                % (name, flag, "" if ok else " but not", default))
        else:
            out(True, "%s: %s documented" % (name, flag))
    text = open(help_path).read()
    for generic in sorted(set(re.findall(FLAG + r"\.NAME", text))):
        out(generic in opts, "%s: %s documented" % (name, generic))
        helps[generic] = ""
    for flag in sorted(set(opts) - set(helps)):
        out(False, "%s: %s is documented but --help does not list it" % (name, flag))
    # The exporter's collectors: every name in --help's collector table is in the page.
    if "Collectors" in text:
        table = text.split("Collectors", 1)[1]
        words = man_text(src)
        for coll in re.findall(r"^  ([a-z_0-9]+)\s+\[(?:on|off)\]", table, flags=re.M):
            out(re.search(r"(?<![a-z_])%s(?![a-z_])" % coll, words) is not None,
                "%s: collector %s is described" % (name, coll))


REFERENCE_SECTIONS = [
    "Top level", "`prometheus`", "`signals`", "`states`", "`decisions`",
    "`manual_actions`", "`limits`", "`alerting`", "Common keys", "Placeholders",
    "`systemd`", "`kubectl`", "`webhook`", "`exec`", "`alert`", "The test file", "`report`",
]


def check_keys(man_path, rules_md):
    section, keys = None, set()
    for line in open(rules_md):
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            section = next((s for s in REFERENCE_SECTIONS if title.startswith(s)), None)
            continue
        if section and line.startswith("| `"):
            first = line.split("|")[1]
            if "(" in first:           # kubectl's table of resource types, not keys
                continue
            for key in re.findall(r"`([^`]+)`", first):
                # Header and JSON field tables (Content-Type, startsAt) are not keys.
                if re.fullmatch(r"[a-z_]+|\{\{[a-z]+\}\}", key):
                    keys.add(key)
    words = man_text(open(man_path).read())
    out(len(keys) >= 60, "RULES.md's reference tables have %d keys" % len(keys))
    for key in sorted(keys):
        pat = r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(key)
        out(re.search(pat, words) is not None, "homeostat-rules.5 names %s" % key)


if __name__ == "__main__":
    if sys.argv[1] == "flags":
        check_flags(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        check_keys(sys.argv[2], sys.argv[3])
