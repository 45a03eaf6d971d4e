// JSON as Python writes it. transformers' config.json contains bare `Infinity` (json.dumps of
// float("inf"), e.g. "time_step_limit": [0.0, Infinity]), which JSON.parse rejects. This is a small
// strict JSON parser that additionally accepts the tokens `Infinity`, `-Infinity` and `NaN` outside
// strings (inside a string they are just text).
import { ConfigError } from "../errors.ts";

const MAX_DEPTH = 256;

/** Parses `text`; calls `fail(message)` and throws what it returns on malformed input. */
export function parseLenientJson(text: string, fail: (message: string) => Error): unknown {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // tolerate a UTF-8 BOM

  const where = () => {
    const before = text.slice(0, i);
    const line = before.split("\n").length;
    const col = i - before.lastIndexOf("\n");
    return `line ${line} column ${col}`;
  };
  const error = (msg: string): never => {
    throw fail(`invalid JSON at ${where()}: ${msg}`);
  };
  const skipWs = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const literal = (word: string, value: unknown) => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return error(`unexpected ${JSON.stringify(text.slice(i, i + 12))}`);
  };

  const parseString = (): string => {
    i++; // opening quote
    let out = "";
    let start = i;
    for (;;) {
      if (i >= text.length) error("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) error("control character in string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1];
      i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) error("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          error(`bad escape \\${e ?? ""}`);
      }
      start = i;
    }
  };

  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const parseNumber = (): number => {
    if (text.startsWith("-Infinity", i)) {
      i += 9;
      return -Infinity;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return error(`unexpected ${JSON.stringify(text.slice(i, i + 12))}`);
    i += m[0].length;
    return Number(m[0]);
  };

  const parseValue = (depth: number): unknown => {
    if (depth > MAX_DEPTH) error(`nested deeper than ${MAX_DEPTH} levels`);
    skipWs();
    const c = text[i];
    switch (c) {
      case "{": {
        i++;
        const obj: Record<string, unknown> = {};
        skipWs();
        if (text[i] === "}") {
          i++;
          return obj;
        }
        for (;;) {
          skipWs();
          if (text[i] !== '"') error("expected a string key");
          const key = parseString();
          skipWs();
          if (text[i] !== ":") error("expected ':'");
          i++;
          // defineProperty: a "__proto__" key is data, not a prototype change
          Object.defineProperty(obj, key, { value: parseValue(depth + 1), enumerable: true, writable: true, configurable: true });
          skipWs();
          if (text[i] === ",") i++;
          else if (text[i] === "}") {
            i++;
            return obj;
          } else error("expected ',' or '}'");
        }
      }
      case "[": {
        i++;
        const arr: unknown[] = [];
        skipWs();
        if (text[i] === "]") {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(parseValue(depth + 1));
          skipWs();
          if (text[i] === ",") i++;
          else if (text[i] === "]") {
            i++;
            return arr;
          } else error("expected ',' or ']'");
        }
      }
      case '"':
        return parseString();
      case "t":
        return literal("true", true);
      case "f":
        return literal("false", false);
      case "n":
        return literal("null", null);
      case "I":
        return literal("Infinity", Infinity);
      case "N":
        return literal("NaN", NaN);
      case undefined:
        return error("unexpected end of input");
      default:
        return parseNumber();
    }
  };

  const value = parseValue(0);
  skipWs();
  if (i < text.length) error("trailing characters after the JSON value");
  return value;
}

/** config.json / params.json text → object. Malformed JSON is a ConfigError naming `file`. */
export function parseConfigJson(text: string, file: string): any {
  return parseLenientJson(text, (message) => new ConfigError(message, file));
}
