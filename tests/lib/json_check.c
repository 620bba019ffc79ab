// SPDX-License-Identifier: GPL-2.0
/*
 * json_check: a strict JSON (RFC 8259) parser for the CLI tests. The guests
 * have no JSON tool, and the tests must parse shstkctl --json with a real
 * parser, not grep it.
 *
 *   json_check [--lines] [PATH...] < input
 *
 * Exit 0 when the input is exactly one JSON text (--lines: one per line),
 * else 1 with the reason and byte offset on stderr. Stricter than the RFC
 * in one way: a key repeated in an object is an error. For each PATH, and
 * only when the input is valid, prints every value found there, one per
 * line, as its JSON text (strings keep their quotes). PATH: "." is the
 * whole text, ".key", "[N]" and "[*]" (every element) step in, a final "#"
 * prints the number of members instead: ".threads[*].origin", ".threads#".
 * A PATH that matches nothing is an error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH	128
#define MAX_QUERIES	16
#define MAX_KEYS	256	/* members per object, for the duplicate check */

enum step_kind { STEP_KEY, STEP_INDEX, STEP_ANY };

struct step {
	enum step_kind kind;
	const char *key;	/* STEP_KEY: raw bytes, as between the quotes */
	size_t key_len;
	long index;
};

struct query {
	const char *text;
	struct step steps[MAX_DEPTH];
	int n_steps;
	bool count;		/* trailing '#' */
	bool not_countable;	/* '#' of a value that is no array or object */
	char *out;		/* what to print, appended while parsing */
	size_t out_len;
	int matches;
};

struct parser {
	const char *buf;
	size_t len, pos;
	const char *error;
	/* Where the value being parsed is: one step per level. */
	struct step path[MAX_DEPTH];
	int depth;
	struct query *queries;
	int n_queries;
};

static bool fail(struct parser *p, const char *why)
{
	if (!p->error)
		p->error = why;
	return false;
}

static void skip_space(struct parser *p)
{
	while (p->pos < p->len && strchr(" \t\n\r", p->buf[p->pos]) && p->buf[p->pos])
		p->pos++;
}

static bool parse_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->buf + p->pos, word, n))
		return fail(p, "invalid literal");
	p->pos += n;
	return true;
}

static bool is_digit(struct parser *p)
{
	return p->pos < p->len && p->buf[p->pos] >= '0' && p->buf[p->pos] <= '9';
}

static bool parse_number(struct parser *p)
{
	if (p->pos < p->len && p->buf[p->pos] == '-')
		p->pos++;
	if (!is_digit(p))
		return fail(p, "number without digits");
	/* No leading zeros: "0" alone, or a non-zero digit first. */
	if (p->buf[p->pos] == '0')
		p->pos++;
	else
		while (is_digit(p))
			p->pos++;
	if (p->pos < p->len && p->buf[p->pos] == '.') {
		p->pos++;
		if (!is_digit(p))
			return fail(p, "no digits after the decimal point");
		while (is_digit(p))
			p->pos++;
	}
	if (p->pos < p->len && (p->buf[p->pos] == 'e' || p->buf[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->buf[p->pos] == '+' || p->buf[p->pos] == '-'))
			p->pos++;
		if (!is_digit(p))
			return fail(p, "no digits in the exponent");
		while (is_digit(p))
			p->pos++;
	}
	return true;
}

static int hex4(struct parser *p)
{
	int value = 0, i;

	if (p->len - p->pos < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = p->buf[p->pos + i];

		value <<= 4;
		if (c >= '0' && c <= '9')
			value |= c - '0';
		else if (c >= 'a' && c <= 'f')
			value |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			value |= c - 'A' + 10;
		else
			return -1;
	}
	p->pos += 4;
	return value;
}

/* One UTF-8 encoded character at pos (not ASCII): well-formed, shortest form. */
static bool utf8_char(struct parser *p)
{
	const unsigned char *s = (const unsigned char *)p->buf + p->pos;
	size_t n, i, left = p->len - p->pos;
	unsigned long cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return fail(p, "invalid UTF-8");
	}
	if (left < n)
		return fail(p, "truncated UTF-8");
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return fail(p, "invalid UTF-8");
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return fail(p, "invalid UTF-8");
	p->pos += n;
	return true;
}

/* A string; pos at its opening quote. */
static bool parse_string(struct parser *p)
{
	int unit;

	p->pos++;
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->buf[p->pos];

		if (c == '"') {
			p->pos++;
			return true;
		}
		if (c < 0x20)
			return fail(p, "control character in a string");
		if (c >= 0x80) {
			if (!utf8_char(p))
				return false;
			continue;
		}
		p->pos++;
		if (c != '\\')
			continue;
		if (p->pos >= p->len)
			break;
		c = (unsigned char)p->buf[p->pos++];
		if (strchr("\"\\/bfnrt", c) && c)
			continue;
		if (c != 'u')
			return fail(p, "invalid escape");
		unit = hex4(p);
		if (unit < 0)
			return fail(p, "invalid \\u escape");
		if (unit >= 0xdc00 && unit <= 0xdfff)
			return fail(p, "lone low surrogate");
		if (unit >= 0xd800 && unit <= 0xdbff) {
			if (p->len - p->pos < 2 || memcmp(p->buf + p->pos, "\\u", 2))
				return fail(p, "lone high surrogate");
			p->pos += 2;
			unit = hex4(p);
			if (unit < 0xdc00 || unit > 0xdfff)
				return fail(p, "high surrogate without a low one");
		}
	}
	return fail(p, "unterminated string");
}

static bool step_matches(const struct step *want, const struct step *at)
{
	if (want->kind == STEP_ANY)
		return at->kind == STEP_INDEX;
	if (want->kind != at->kind)
		return false;
	if (want->kind == STEP_INDEX)
		return want->index == at->index;
	return want->key_len == at->key_len && !memcmp(want->key, at->key, at->key_len);
}

static void append(struct query *q, const char *text, size_t len)
{
	q->out = realloc(q->out, q->out_len + len + 2);
	if (!q->out) {
		perror("json_check");
		exit(2);
	}
	memcpy(q->out + q->out_len, text, len);
	q->out_len += len;
	q->out[q->out_len++] = '\n';
}

/* Record the value that ends at pos for every query naming this path. */
static void record(struct parser *p, size_t start, long members)
{
	char count[32];
	int i, s;

	for (i = 0; i < p->n_queries; i++) {
		struct query *q = &p->queries[i];

		if (q->n_steps != p->depth)
			continue;
		for (s = 0; s < q->n_steps && step_matches(&q->steps[s], &p->path[s]); s++)
			;
		if (s < q->n_steps)
			continue;
		q->matches++;
		if (q->count && members >= 0)
			append(q, count, (size_t)snprintf(count, sizeof(count), "%ld", members));
		else if (q->count)
			q->not_countable = true;
		else
			append(q, p->buf + start, p->pos - start);
	}
}

static bool parse_value(struct parser *p);

static bool parse_array(struct parser *p, long *members)
{
	p->pos++;
	skip_space(p);
	if (p->pos < p->len && p->buf[p->pos] == ']') {
		p->pos++;
		return true;
	}
	for (;;) {
		p->path[p->depth] = (struct step){ .kind = STEP_INDEX, .index = *members };
		p->depth++;
		if (!parse_value(p))
			return false;
		p->depth--;
		(*members)++;
		skip_space(p);
		if (p->pos >= p->len)
			return fail(p, "unterminated array");
		if (p->buf[p->pos] == ']') {
			p->pos++;
			return true;
		}
		if (p->buf[p->pos] != ',')
			return fail(p, "expected ',' or ']' in an array");
		p->pos++;
	}
}

static bool parse_object(struct parser *p, long *members)
{
	struct step keys[MAX_KEYS];
	size_t key_start;
	long i;

	p->pos++;
	skip_space(p);
	if (p->pos < p->len && p->buf[p->pos] == '}') {
		p->pos++;
		return true;
	}
	for (;;) {
		skip_space(p);
		if (p->pos >= p->len || p->buf[p->pos] != '"')
			return fail(p, "expected a string key");
		key_start = p->pos + 1;
		if (!parse_string(p))
			return false;
		if (*members >= MAX_KEYS)
			return fail(p, "too many keys in an object");
		keys[*members] = (struct step){ .kind = STEP_KEY, .key = p->buf + key_start,
						.key_len = p->pos - 1 - key_start };
		for (i = 0; i < *members; i++)
			if (step_matches(&keys[i], &keys[*members]))
				return fail(p, "duplicate key");
		skip_space(p);
		if (p->pos >= p->len || p->buf[p->pos] != ':')
			return fail(p, "expected ':' after a key");
		p->pos++;
		p->path[p->depth++] = keys[*members];
		if (!parse_value(p))
			return false;
		p->depth--;
		(*members)++;
		skip_space(p);
		if (p->pos >= p->len)
			return fail(p, "unterminated object");
		if (p->buf[p->pos] == '}') {
			p->pos++;
			return true;
		}
		if (p->buf[p->pos] != ',')
			return fail(p, "expected ',' or '}' in an object");
		p->pos++;
	}
}

static bool parse_value(struct parser *p)
{
	long members = -1;
	size_t start;
	bool ok;

	if (p->depth >= MAX_DEPTH)
		return fail(p, "nested too deep");
	skip_space(p);
	if (p->pos >= p->len)
		return fail(p, "expected a value");
	start = p->pos;
	switch (p->buf[p->pos]) {
	case '{':
		members = 0;
		ok = parse_object(p, &members);
		break;
	case '[':
		members = 0;
		ok = parse_array(p, &members);
		break;
	case '"':
		ok = parse_string(p);
		break;
	case 't':
		ok = parse_literal(p, "true");
		break;
	case 'f':
		ok = parse_literal(p, "false");
		break;
	case 'n':
		ok = parse_literal(p, "null");
		break;
	default:
		ok = parse_number(p);
		break;
	}
	if (ok)
		record(p, start, members);
	return ok;
}

/* One JSON text in buf[0, len): true, or false with p->error set. */
static bool parse_text(struct parser *p, const char *buf, size_t len)
{
	p->buf = buf;
	p->len = len;
	p->pos = 0;
	p->depth = 0;
	if (memchr(buf, '\0', len))
		return fail(p, "NUL byte in the input");
	if (!parse_value(p))
		return false;
	skip_space(p);
	if (p->pos != p->len)
		return fail(p, "data after the JSON text");
	return true;
}

static bool parse_query(const char *text, struct query *q)
{
	const char *s = text;
	char *end;

	q->text = text;
	if (*s == '.' && (s[1] == '\0' || s[1] == '#'))
		s++;
	while (*s && *s != '#') {
		struct step *step = &q->steps[q->n_steps];

		if (q->n_steps == MAX_DEPTH)
			return false;
		if (*s == '.') {
			step->kind = STEP_KEY;
			step->key = ++s;
			step->key_len = strcspn(s, ".[#");
			if (!step->key_len)
				return false;
			s += step->key_len;
		} else if (*s == '[' && s[1] == '*' && s[2] == ']') {
			step->kind = STEP_ANY;
			s += 3;
		} else if (*s == '[') {
			step->kind = STEP_INDEX;
			step->index = strtol(s + 1, &end, 10);
			if (end == s + 1 || *end != ']' || step->index < 0)
				return false;
			s = end + 1;
		} else {
			return false;
		}
		q->n_steps++;
	}
	q->count = *s == '#';
	return !*s || (q->count && !s[1]);
}

int main(int argc, char *argv[])
{
	struct query queries[MAX_QUERIES] = { 0 };
	struct parser p = { .queries = queries };
	size_t len = 0, cap = 0, start, end, line;
	bool lines = false;
	char *buf = NULL;
	int i, arg = 1;

	if (arg < argc && !strcmp(argv[arg], "--lines")) {
		lines = true;
		arg++;
	}
	for (; arg < argc; arg++) {
		if (p.n_queries == MAX_QUERIES || !parse_query(argv[arg], &queries[p.n_queries])) {
			fprintf(stderr, "json_check: bad path '%s'\n", argv[arg]);
			return 2;
		}
		p.n_queries++;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			if (!buf) {
				perror("json_check");
				return 2;
			}
		}
		i = (int)fread(buf + len, 1, cap - len, stdin);
		if (i <= 0)
			break;
		len += (size_t)i;
	}

	if (!len) {
		fprintf(stderr, "json_check: no input\n");
		return 1;
	}
	for (start = 0; start < len; start = end + 1) {
		end = len;
		if (lines) {
			const char *nl = memchr(buf + start, '\n', len - start);

			end = nl ? (size_t)(nl - buf) : len;
		}
		if (!parse_text(&p, buf + start, end - start)) {
			for (line = 1, i = 0; (size_t)i < start + p.pos; i++)
				line += buf[i] == '\n';
			fprintf(stderr, "json_check: invalid JSON at byte %zu (line %zu): %s\n",
				start + p.pos, line, p.error);
			return 1;
		}
	}
	for (i = 0; i < p.n_queries; i++) {
		if (!queries[i].matches || queries[i].not_countable) {
			fprintf(stderr, "json_check: %s at '%s'\n", queries[i].matches ?
				"no array or object" : "nothing", queries[i].text);
			return 1;
		}
		fwrite(queries[i].out, 1, queries[i].out_len, stdout);
	}
	return 0;
}
