package io.hiformer.ops;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;

/**
 * One line per log event, whatever it holds: {@code TIME LEVEL LOGGER: MESSAGE}, a stack trace
 * folded onto the same line; or, with {@code json}, one JSON object a line ({@code time, level,
 * logger, thread, message, exception}). Line breaks inside a message or trace are written as the
 * two characters {@code \n}, so a log shipper never splits an event. Usable from a
 * logging.properties file ({@code java.util.logging.ConsoleHandler.formatter = io.hiformer.ops.LogFormatter}).
 */
public final class LogFormatter extends Formatter {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final boolean json;

  /** The text format. */
  public LogFormatter() {
    this(false);
  }

  LogFormatter(boolean json) {
    this.json = json;
  }

  @Override
  public String format(LogRecord r) {
    String message = formatMessage(r);
    String trace = r.getThrown() == null ? null : trace(r.getThrown());
    if (json) {
      Map<String, Object> event = new LinkedHashMap<>();
      event.put("time", r.getInstant().toString());
      event.put("level", r.getLevel().getName());
      event.put("logger", r.getLoggerName());
      event.put("thread", r.getLongThreadID());
      event.put("message", message);
      if (trace != null) {
        event.put("exception", trace);
      }
      try {
        return JSON.writeValueAsString(event) + System.lineSeparator(); // JSON escapes line breaks
      } catch (JsonProcessingException e) {
        throw new IllegalStateException(e);
      }
    }
    StringBuilder line = new StringBuilder(128).append(Instant.ofEpochMilli(r.getMillis())).append(' ')
        .append(r.getLevel().getName()).append(' ').append(r.getLoggerName()).append(": ").append(oneLine(message));
    if (trace != null) {
      line.append(" | ").append(oneLine(trace));
    }
    return line.append(System.lineSeparator()).toString();
  }

  private static String trace(Throwable t) {
    StringWriter out = new StringWriter();
    t.printStackTrace(new PrintWriter(out));
    return out.toString().strip();
  }

  /** Line breaks as the characters \n, tabs as a space. */
  static String oneLine(String s) {
    if (s == null) {
      return "";
    }
    return s.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n").replace('\t', ' ');
  }
}
