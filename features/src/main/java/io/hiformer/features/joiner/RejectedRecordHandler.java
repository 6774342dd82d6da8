package io.hiformer.features.joiner;

import java.util.Map;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Sends records the join processor {@link Rejected rejected} to the dead-letter topic (Kafka
 * Streams' own dead-letter records: the source key and value, the reason in
 * {@code __streams.errors.message}, the source topic, partition and offset in headers) and goes
 * on; any other exception is a bug and stops the joiner.
 */
public final class RejectedRecordHandler implements ProcessingExceptionHandler {
  private final LogAndContinueProcessingExceptionHandler deadLetters = new LogAndContinueProcessingExceptionHandler();

  @Override
  public void configure(Map<String, ?> configs) {
    deadLetters.configure(configs);
  }

  @Override
  public Response handleError(ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
    return exception instanceof Rejected ? deadLetters.handleError(context, record, exception) : Response.fail();
  }
}
