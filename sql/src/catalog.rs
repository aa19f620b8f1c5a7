//! The lake as a DataFusion catalog.
//!
//! * One SQL schema per lake database (`panther_logs`, `panther_rule_matches`,
//!   `panther_rule_errors`): its tables are the folders under `<root>/<db folder>/`,
//!   listed when the session opens. A table is built when a query first names it: a
//!   listing table over `<root>/<db folder>/<table>/` whose file schema is read from the
//!   footer of the newest file (newest partition, found by descending the hour folders),
//!   with the Hive partition columns `year`, `month`, `day`, `hour` as `INT`.
//! * `panther_views`: `all_logs`, `all_rule_matches`, `all_rule_errors`, each the
//!   `UNION ALL` over its database's tables of `p_db_name`, the `p_` columns and the
//!   partition columns (a typed `NULL` where a table lacks a column), as Panther's views.
//!
//! Partition folders are zero padded (`month=03`) while SQL compares integers
//! (`month = 3`). DataFusion lists only the partitions that equality filters name, with
//! the prefix built from the values (`month=3/`): the store the session reads through is
//! [`PaddedPartitions`], which pads those prefix segments, and DataFusion's listing cache
//! (which would list the whole table and match the unpadded prefix in memory) is off.
//! Every listed file is then kept or pruned on its parsed partition values.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, ScanArgs, ScanResult, SchemaProvider, Session, TableProvider,
};
use datafusion::common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{
    Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use corvid_lake::columns::{event_columns, rule_columns, PARTITION_COLUMNS};
use corvid_lake::layout::table_path;
use corvid_lake::{Database, Lake};

use crate::padded::PaddedPartitions;
use crate::{functions, SqlError};

/// The catalog's name (`corvid.panther_logs.aws_cloudtrail`); the default catalog.
pub const CATALOG: &str = "corvid";
/// The schema of the union views.
pub const VIEWS: &str = "panther_views";
/// The column that names the database in the views.
pub const DB_NAME_COLUMN: &str = "p_db_name";

/// The view over every table of `database`.
pub fn view_name(database: Database) -> &'static str {
    match database {
        Database::Logs => "all_logs",
        Database::RuleMatches => "all_rule_matches",
        Database::RuleErrors => "all_rule_errors",
    }
}

/// The hour partition columns and their SQL type (`INT`, as Panther's Glue tables).
pub fn partition_columns() -> Vec<(String, DataType)> {
    PARTITION_COLUMNS
        .iter()
        .map(|name| ((*name).to_owned(), DataType::Int32))
        .collect()
}

/// The `p_` columns every table of `database` is expected to have, in order.
pub fn p_columns(database: Database) -> Vec<Field> {
    let mut fields = event_columns();
    fields.extend(rule_columns(database));
    fields
}

/// A session over the lake with the default configuration.
pub async fn session(lake: &Lake) -> Result<SessionContext, SqlError> {
    session_with_config(lake, SessionConfig::new()).await
}

/// A session over the lake: the object store registered under `lake.store_url`, the
/// catalog `corvid` as default with
/// `panther_logs` as default schema, `information_schema`, and the Presto functions.
pub async fn session_with_config(
    lake: &Lake,
    config: SessionConfig,
) -> Result<SessionContext, SqlError> {
    let config = config
        .with_information_schema(true)
        .with_create_default_catalog_and_schema(false)
        .with_default_catalog_and_schema(CATALOG, Database::Logs.name());
    // No listing cache: each scan lists just the partitions its filters name.
    let runtime = RuntimeEnvBuilder::new()
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    ctx.runtime_env().register_object_store(
        &lake.store_url,
        Arc::new(PaddedPartitions::new(Arc::clone(&lake.store))),
    );
    let catalog = Arc::new(LakeCatalog::open(lake).await?);
    ctx.register_catalog(CATALOG, catalog as Arc<dyn CatalogProvider>);
    functions::register(&ctx);
    Ok(ctx)
}

/// The four schemas of the lake.
#[derive(Debug)]
pub struct LakeCatalog {
    databases: BTreeMap<Database, Arc<LakeSchema>>,
    views: Arc<ViewsSchema>,
}

impl LakeCatalog {
    /// Lists the tables of every database (one listing call each).
    pub async fn open(lake: &Lake) -> Result<LakeCatalog, SqlError> {
        let mut databases = BTreeMap::new();
        for database in Database::ALL {
            databases.insert(database, Arc::new(LakeSchema::open(lake, database).await?));
        }
        let views = Arc::new(ViewsSchema {
            databases: databases.clone(),
            views: Mutex::new(HashMap::new()),
        });
        Ok(LakeCatalog { databases, views })
    }

    /// The schema of one lake database.
    pub fn database(&self, database: Database) -> &Arc<LakeSchema> {
        &self.databases[&database]
    }
}

impl CatalogProvider for LakeCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Database::ALL.iter().map(|d| d.name().to_owned()).collect();
        names.push(VIEWS.to_owned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == VIEWS {
            return Some(Arc::clone(&self.views) as Arc<dyn SchemaProvider>);
        }
        Database::ALL
            .iter()
            .find(|d| d.name() == name)
            .map(|d| Arc::clone(&self.databases[d]) as Arc<dyn SchemaProvider>)
    }
}

/// The tables of one lake database.
#[derive(Debug)]
pub struct LakeSchema {
    lake: Lake,
    database: Database,
    names: Vec<String>,
    tables: Mutex<HashMap<String, Arc<LakeTable>>>,
}

impl LakeSchema {
    /// Lists `<root>/<db folder>/`: every folder is a table. A database that has no
    /// folder yet has no tables.
    pub async fn open(lake: &Lake, database: Database) -> Result<LakeSchema, SqlError> {
        let folder = table_path(&lake.prefix, database, "");
        let listing = match lake.store.list_with_delimiter(Some(&folder)).await {
            Ok(listing) => listing.common_prefixes,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(source) => {
                return Err(SqlError::List {
                    path: folder.to_string(),
                    source,
                })
            }
        };
        let mut names: Vec<String> = listing
            .iter()
            .filter_map(|prefix| prefix.filename().map(str::to_owned))
            .filter(|name| !name.starts_with('.') && !name.starts_with('_'))
            .collect();
        names.sort();
        names.dedup();
        Ok(LakeSchema {
            lake: lake.clone(),
            database,
            names,
            tables: Mutex::new(HashMap::new()),
        })
    }

    pub fn database(&self) -> Database {
        self.database
    }

    /// The table names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The table `name`, built on first use.
    pub async fn lake_table(&self, name: &str) -> Result<Option<Arc<LakeTable>>, SqlError> {
        if !self.names.iter().any(|n| n == name) {
            return Ok(None);
        }
        if let Some(table) = self.cached(name) {
            return Ok(Some(table));
        }
        let table = Arc::new(LakeTable::open(&self.lake, self.database, name).await?);
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Some(Arc::clone(
            tables.entry(name.to_owned()).or_insert(table),
        )))
    }

    fn cached(&self, name: &str) -> Option<Arc<LakeTable>> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.get(name).cloned()
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        self.names.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let table = self.lake_table(name).await.map_err(external)?;
        Ok(table.map(|t| t as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// One lake table: a DataFusion listing table with the hour partitions as `INT` columns.
#[derive(Debug)]
pub struct LakeTable {
    inner: ListingTable,
    url: String,
    /// The file the schema was read from; `None` when the table has no file yet.
    schema_source: Option<Path>,
}

impl LakeTable {
    /// The listing table over `<root>/<db folder>/<table>/`.
    pub async fn open(lake: &Lake, database: Database, table: &str) -> Result<LakeTable, SqlError> {
        let folder = table_path(&lake.prefix, database, table);
        let url = format!("{}/", lake.url_of(&folder));
        let newest = newest_file(lake.store.as_ref(), &folder).await?;
        let file_schema = match &newest {
            Some(meta) => file_schema(&lake.store, meta).await?,
            None => Arc::new(Schema::new(p_columns(database))),
        };
        // A log type's own column named like a partition column is shadowed by it.
        let file_schema = Arc::new(Schema::new_with_metadata(
            file_schema
                .fields()
                .iter()
                .filter(|f| !PARTITION_COLUMNS.contains(&f.name().as_str()))
                .cloned()
                .collect::<Vec<_>>(),
            file_schema.metadata().clone(),
        ));
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partition_columns());
        let config = ListingTableConfig::new(ListingTableUrl::parse(&url)?)
            .with_listing_options(options)
            .with_schema(file_schema);
        Ok(LakeTable {
            inner: ListingTable::try_new(config)?,
            url,
            schema_source: newest.map(|meta| meta.location),
        })
    }

    /// The table's folder URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The file whose footer gave the schema.
    pub fn schema_source(&self) -> Option<&Path> {
        self.schema_source.as_ref()
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DfResult<ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}

/// The newest data file of a table: descend the greatest `year`, `month`, `day`, `hour`
/// folders; if that hour holds no file, list the whole table.
pub async fn newest_file(
    store: &dyn ObjectStore,
    table: &Path,
) -> Result<Option<ObjectMeta>, SqlError> {
    let mut dir = table.clone();
    let mut descended = true;
    for column in PARTITION_COLUMNS {
        let listing = list_dir(store, &dir).await?;
        let greatest = listing
            .common_prefixes
            .into_iter()
            .filter_map(|prefix| {
                let value = prefix
                    .filename()?
                    .strip_prefix(column)?
                    .strip_prefix('=')?
                    .parse::<i64>()
                    .ok()?;
                Some((value, prefix))
            })
            .max_by_key(|(value, _)| *value);
        match greatest {
            Some((_, prefix)) => dir = prefix,
            None => {
                descended = false;
                break;
            }
        }
    }
    if descended {
        let newest = list_dir(store, &dir)
            .await?
            .objects
            .into_iter()
            .filter(is_data_file)
            .max_by(|a, b| a.location.cmp(&b.location));
        if newest.is_some() {
            return Ok(newest);
        }
    }
    let all: Vec<ObjectMeta> = match store.list(Some(table)).try_collect().await {
        Ok(all) => all,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(source) => {
            return Err(SqlError::List {
                path: table.to_string(),
                source,
            })
        }
    };
    Ok(all
        .into_iter()
        .filter(is_data_file)
        .max_by(|a, b| a.location.cmp(&b.location)))
}

fn is_data_file(meta: &ObjectMeta) -> bool {
    meta.size > 0 && meta.location.as_ref().ends_with(".parquet")
}

async fn list_dir(
    store: &dyn ObjectStore,
    dir: &Path,
) -> Result<object_store::ListResult, SqlError> {
    match store.list_with_delimiter(Some(dir)).await {
        Ok(listing) => Ok(listing),
        Err(object_store::Error::NotFound { .. }) => Ok(object_store::ListResult {
            common_prefixes: Vec::new(),
            objects: Vec::new(),
        }),
        Err(source) => Err(SqlError::List {
            path: dir.to_string(),
            source,
        }),
    }
}

/// The Arrow schema stored in a Parquet file's footer.
pub async fn file_schema(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
) -> Result<SchemaRef, SqlError> {
    let schema = DFParquetMetadata::new(store.as_ref(), meta)
        .fetch_schema()
        .await
        .map_err(|source| SqlError::Footer {
            path: meta.location.to_string(),
            source: Box::new(source),
        })?;
    Ok(Arc::new(schema))
}

/// `panther_views`: the union views.
#[derive(Debug)]
pub struct ViewsSchema {
    databases: BTreeMap<Database, Arc<LakeSchema>>,
    views: Mutex<HashMap<Database, Arc<dyn TableProvider>>>,
}

impl ViewsSchema {
    fn database_of(name: &str) -> Option<Database> {
        Database::ALL.into_iter().find(|d| view_name(*d) == name)
    }

    async fn view(&self, database: Database) -> Result<Arc<dyn TableProvider>, SqlError> {
        if let Some(view) = self
            .views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&database)
        {
            return Ok(Arc::clone(view));
        }
        let schema = &self.databases[&database];
        let mut tables = Vec::new();
        for name in schema.names() {
            if let Some(table) = schema.lake_table(name).await? {
                tables.push((name.clone(), table));
            }
        }
        let view = union_view(database, &tables)?;
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Arc::clone(views.entry(database).or_insert(view)))
    }
}

#[async_trait]
impl SchemaProvider for ViewsSchema {
    fn table_names(&self) -> Vec<String> {
        Database::ALL
            .iter()
            .map(|d| view_name(*d).to_owned())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match Self::database_of(name) {
            Some(database) => self.view(database).await.map(Some).map_err(external),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        Self::database_of(name).is_some()
    }
}

/// The columns of a database's view, given the schemas of its tables: `p_db_name`, the
/// expected `p_` columns, any further `p_` column a table has (sorted), the partitions.
pub fn view_columns(database: Database, schemas: &[SchemaRef]) -> Vec<Field> {
    let mut fields = vec![Field::new(DB_NAME_COLUMN, DataType::Utf8, false)];
    let expected = p_columns(database);
    let mut extra: BTreeMap<String, Field> = BTreeMap::new();
    for schema in schemas {
        for field in schema.fields() {
            let name = field.name();
            if name.starts_with("p_")
                && name != DB_NAME_COLUMN
                && !expected.iter().any(|f| f.name() == name)
            {
                extra
                    .entry(name.clone())
                    .or_insert_with(|| field.as_ref().clone().with_nullable(true));
            }
        }
    }
    fields.extend(expected.into_iter().map(|f| f.with_nullable(true)));
    fields.extend(extra.into_values());
    fields.extend(
        partition_columns()
            .into_iter()
            .map(|(name, data_type)| Field::new(name, data_type, false)),
    );
    fields
}

/// `SELECT '<db>' AS p_db_name, <p_ columns>, year, month, day, hour FROM <t1>
/// UNION ALL …` over `tables`; an empty table of the same columns when there are none.
pub fn union_view(
    database: Database,
    tables: &[(String, Arc<LakeTable>)],
) -> Result<Arc<dyn TableProvider>, SqlError> {
    let schemas: Vec<SchemaRef> = tables.iter().map(|(_, t)| t.schema()).collect();
    let columns = view_columns(database, &schemas);
    let mut plans: Vec<LogicalPlan> = Vec::new();
    for (name, table) in tables {
        let reference = TableReference::full(CATALOG, database.name(), name.as_str());
        let schema = table.schema();
        let projection: Vec<Expr> = columns
            .iter()
            .map(|field| {
                let name = field.name();
                if name == DB_NAME_COLUMN {
                    return Ok(Expr::Literal(
                        ScalarValue::Utf8(Some(database.name().to_owned())),
                        None,
                    )
                    .alias(name));
                }
                Ok(match schema.field_with_name(name) {
                    Ok(present) => {
                        let column =
                            Expr::Column(Column::new(Some(reference.clone()), name.as_str()));
                        if present.data_type() == field.data_type() {
                            column.alias(name)
                        } else {
                            column
                                .cast_to(
                                    field.data_type(),
                                    &DFSchema::try_from(Arc::clone(&schema))?,
                                )?
                                .alias(name)
                        }
                    }
                    Err(_) => {
                        Expr::Literal(ScalarValue::try_from(field.data_type())?, None).alias(name)
                    }
                })
            })
            .collect::<DfResult<_>>()?;
        let source = provider_as_source(Arc::clone(table) as Arc<dyn TableProvider>);
        let plan = LogicalPlanBuilder::scan(reference, source, None)?
            .project(projection)?
            .build()?;
        plans.push(plan);
    }
    let mut plans = plans.into_iter();
    let Some(first) = plans.next() else {
        // No table yet: a view of no rows with the same columns.
        let nulls = columns
            .iter()
            .map(|field| {
                Ok(
                    Expr::Literal(ScalarValue::try_from(field.data_type())?, None)
                        .alias(field.name()),
                )
            })
            .collect::<DfResult<Vec<_>>>()?;
        let plan = LogicalPlanBuilder::empty(false).project(nulls)?.build()?;
        return Ok(Arc::new(ViewTable::new(plan, None)));
    };
    let mut builder = LogicalPlanBuilder::from(first);
    for plan in plans {
        builder = builder.union(plan)?;
    }
    Ok(Arc::new(ViewTable::new(builder.build()?, None)))
}

fn external(error: SqlError) -> DataFusionError {
    match error {
        SqlError::DataFusion(error) => error,
        other => DataFusionError::External(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_has_the_db_name_the_p_columns_and_the_partitions() {
        let columns = view_columns(Database::RuleErrors, &[]);
        let names: Vec<&str> = columns.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names.first(), Some(&"p_db_name"));
        assert!(names.contains(&"p_any_ip_addresses"));
        assert!(names.contains(&"p_rule_error"));
        assert_eq!(&names[names.len() - 4..], &["year", "month", "day", "hour"]);
    }
}
