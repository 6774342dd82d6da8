package io.hiformer.features.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JoinsTest {
  @TempDir Path dir;

  static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: label}]
      joins: [{file: items.csv, key: item}]
      fields: [{name: category, kind: categorical, side: item}]
      """);

  @Test
  void addsSideColumnsByKeyAndKeepsTheRecordsOwn() throws IOException {
    Files.writeString(dir.resolve("items.csv"), "item,category,label\n10,games,side\n11,news,side\n");
    Files.writeString(dir.resolve("log.csv"), "label,item\n1,10\n0,11\n1,12\n0,\n");
    Joins joins = Joins.load(SCHEMA, dir);
    List<RawRecord> rows = new ArrayList<>();
    joins.join(RecordFiles.csv(dir.resolve("log.csv"), BadRows.none())).forEach(rows::add);
    assertThat(rows).extracting(r -> r.value("category")).containsExactly("games", "news", null, null);
    // The record's own column wins over the side table's.
    assertThat(rows).extracting(r -> r.value("label")).containsExactly("1", "0", "1", "0");
    assertThat(rows.getFirst().location()).isEqualTo(dir.resolve("log.csv") + ":2");
  }

  @Test
  void repeatedKeyFails() throws IOException {
    Files.writeString(dir.resolve("items.csv"), "item,category\n10,games\n10,news\n");
    assertThatThrownBy(() -> Joins.load(SCHEMA, dir))
        .hasMessage(dir.resolve("items.csv") + ":3: key '10' appears again (first at " + dir.resolve("items.csv") + ":2)");
  }
}
