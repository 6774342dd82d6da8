package io.hiformer.ranker;

import static io.hiformer.ranker.RankServiceTest.channel;
import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static io.hiformer.ranker.RankServiceTest.startServer;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.OpenVocabularies;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An open field's new id through a real server and real model files: unknown (row 0) while the
 * serving version does not know it, its own row as soon as the version whose vocabulary grew to
 * hold it is swapped in.
 */
class OpenVocabularySwapTest {
  static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}, {name: like}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: item_id, kind: categorical, side: item, open: true, max_vocabulary: 10, ttl: 1000}
        - {name: hour, kind: categorical, side: context}
        - {name: price, kind: dense, side: item, standardize: true}
      """);

  @Test
  void theRankerMapsANewIdOnceTheVersionThatKnowsItIsSwappedIn(@TempDir Path dir) throws Exception {
    List<RawRecord> records = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "item_id", "i" + i % 5, "hour", Integer.toString(i % 4),
          "price", Double.toString(1.5 * i), "click", Integer.toString(i % 2), "like", "0")));
    }
    Transforms v1 = Transforms.fit(SCHEMA, records);
    OpenVocabularies growth = OpenVocabularies.of(v1);
    growth.observe(RawRecord.of(Map.of("item_id", "fresh")));
    Transforms v2 = growth.snapshot();
    int freshRow = 6;  // after i0..i4
    var config = TinyModels.config(v1);
    assertThat(TinyModels.config(v2)).isEqualTo(config);
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    registry.publish(TinyModels.NAME, Parameters.initialize(config, 1), Map.of(Transforms.METADATA_KEY, v1.toJson()),
        "{}");

    RankRequest rank = request("u1", item("fresh", 1), item("i0", 2)).build();
    try (RegistryWatcher w = new RegistryWatcher(registry, TinyModels.NAME, "latest", 1, RankOptions.DEFAULTS);
        RankerServer s = startServer(w.service())) {
      AtomicReference<int[]> itemIds = new AtomicReference<>();
      w.service().onScored((request, id, arm, inputs, probabilities, scores, order, returned) ->
          itemIds.set(new int[] {inputs.categorical(0, 1), inputs.categorical(1, 1)}));
      ManagedChannel ch = channel(s);
      try {
        var stub = RankerGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS);
        RankResponse first = stub.rank(rank);
        assertThat(first.getModelVersion()).isEqualTo(1);
        assertThat(itemIds.get()).containsExactly(0, 1);

        registry.publish(TinyModels.NAME, Parameters.initialize(config, 1),
            Map.of(Transforms.METADATA_KEY, v2.toJson()), "{}");
        assertThat(w.poll()).isTrue();
        RankResponse second = RankerGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS).rank(rank);
        assertThat(second.getModelVersion()).isEqualTo(2);
        assertThat(itemIds.get()).containsExactly(freshRow, 1);
        // Same weights, so only the new row can change the new item's score.
        assertThat(second.getCandidatesList().stream().filter(c -> c.getItemId().equals("fresh")).findFirst()
            .orElseThrow().getScore())
            .isNotEqualTo(first.getCandidatesList().stream().filter(c -> c.getItemId().equals("fresh")).findFirst()
                .orElseThrow().getScore());
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
