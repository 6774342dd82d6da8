package io.hiformer.training.evaluation;

import io.hiformer.features.BadRows;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.TrainingExample;
import java.util.Iterator;

/**
 * Rows from a range of the {@code examples} topic, resolved to offsets per partition once, when
 * the source is made, so the report names exactly the examples it scored: each a logged
 * {@link TrainingExample} (inputs already transformed), checked against {@code loggedConfig}.
 * Streams: memory does not grow with the range.
 */
public final class TopicSource implements EvalSource {
  private final String bootstrapServers;
  private final ExampleTopic.Range range;
  private final ModelConfig loggedConfig;
  private final BadRows badRows;

  private TopicSource(String bootstrapServers, ExampleTopic.Range range, ModelConfig loggedConfig, BadRows badRows) {
    this.bootstrapServers = bootstrapServers;
    this.range = range;
    this.loggedConfig = loggedConfig;
    this.badRows = badRows;
  }

  /** The examples of {@code topic} in {@code [from, to)}. */
  public static TopicSource of(String bootstrapServers, String topic, ExampleTopic.Bound from, ExampleTopic.Bound to,
      ModelConfig loggedConfig, BadRows badRows) {
    return new TopicSource(bootstrapServers, ExampleTopic.resolve(bootstrapServers, topic, from, to), loggedConfig,
        badRows);
  }

  public ExampleTopic.Range range() {
    return range;
  }

  @Override
  public String description() {
    return range.toString();
  }

  @Override
  public long size() {
    return range.size();
  }

  @Override
  public Iterator<EvalRow> iterator() {
    Iterator<TrainingExample> examples = ExampleTopic.read(bootstrapServers, range, e -> true,
        new ExampleRows(loggedConfig), badRows).iterator();
    return new Rows(examples);
  }

  private final class Rows implements Iterator<EvalRow>, AutoCloseable {
    private final Iterator<TrainingExample> examples;
    private long count;

    Rows(Iterator<TrainingExample> examples) {
      this.examples = examples;
    }

    @Override
    public boolean hasNext() {
      return examples.hasNext();
    }

    @Override
    public EvalRow next() {
      return EvalRow.logged(examples.next(), range.topic() + ":#" + ++count);
    }

    @Override
    public void close() throws Exception {
      if (examples instanceof AutoCloseable c) {
        c.close();
      }
    }
  }
}
